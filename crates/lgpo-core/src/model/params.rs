//! Where a model's parameters come from: a checkpoint, a seeded random initialisation, or the
//! parameters of an existing model (for a view without gradient tracking).

use candle_core::{DType, Device, Tensor, Var};

use super::weights::CheckpointReader;
use crate::rng::SplitMix64;
use crate::Result;

/// A provider of named parameter tensors; names are Hugging Face checkpoint keys.
pub trait ParamSource {
    /// The tensor called `name`, of shape `shape`, in the model's dtype and on its device.
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor>;
}

/// Parameters read from a checkpoint directory.
pub struct CheckpointSource<'a> {
    pub reader: &'a CheckpointReader,
    pub dtype: DType,
    pub device: Device,
}

impl ParamSource for CheckpointSource<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.reader.tensor(name, shape, self.dtype, &self.device)
    }
}

/// Hugging Face's initialisation of Qwen2, from a seed: matrices N(0, std²) (std is the config's
/// `initializer_range`, 0.02), biases zero, norm weights one.
pub struct RandomInit {
    pub rng: SplitMix64,
    pub std: f64,
    pub dtype: DType,
    pub device: Device,
}

impl ParamSource for RandomInit {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let tensor = if name.ends_with("norm.weight") {
            Tensor::ones(shape, DType::F32, &Device::Cpu)?
        } else if name.ends_with(".bias") {
            Tensor::zeros(shape, DType::F32, &Device::Cpu)?
        } else {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|_| (self.rng.next_normal() * self.std) as f32).collect();
            Tensor::from_vec(values, shape, &Device::Cpu)?
        };
        Ok(tensor.to_dtype(self.dtype)?.to_device(&self.device)?)
    }
}

/// Detached views of existing parameters: same storage (so in-place updates are seen), but no
/// gradient tracking, so a forward through them records no backprop graph.
pub struct DetachedParams<'a> {
    pub params: &'a [(String, Var)],
}

impl ParamSource for DetachedParams<'_> {
    fn tensor(&mut self, name: &str, _shape: &[usize]) -> Result<Tensor> {
        let (_, var) = self
            .params
            .iter()
            .find(|(n, _)| n == name)
            .expect("a detached view is built with the same names as its model");
        Ok(var.as_detached_tensor())
    }
}

/// Wraps a source and records every tensor it hands out as a trainable [`Var`].
pub(crate) struct Trainable<'a> {
    pub source: &'a mut dyn ParamSource,
    pub params: Vec<(String, Var)>,
}

impl ParamSource for Trainable<'_> {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let var = Var::from_tensor(&self.source.tensor(name, shape)?)?;
        let tensor = var.as_tensor().clone();
        self.params.push((name.to_string(), var));
        Ok(tensor)
    }
}
