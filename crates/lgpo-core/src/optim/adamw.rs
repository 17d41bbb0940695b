//! AdamW (Loshchilov & Hutter, 2019) as PyTorch implements it, with f32 master weights and f32
//! moments whatever the compute dtype of the parameters.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Shape, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::kernels::{FusedStep, MomentUpdate, ParamUpdate};
use crate::{bail_input, Error, Result};

/// AdamW hyper-parameters. Defaults: lr 1e-6 (the paper's scale for RL fine-tuning),
/// betas 0.9/0.999, eps 1e-8, weight decay 0.01 (applied to every parameter, as verl does).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { lr: 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

impl AdamWConfig {
    /// Checks the ranges (names the bad field).
    pub fn validate(&self) -> Result<()> {
        let checks = [
            ("optimizer.lr", self.lr, self.lr >= 0.0),
            ("optimizer.beta1", self.beta1, (0.0..1.0).contains(&self.beta1)),
            ("optimizer.beta2", self.beta2, (0.0..1.0).contains(&self.beta2)),
            ("optimizer.eps", self.eps, self.eps > 0.0),
            ("optimizer.weight_decay", self.weight_decay, self.weight_decay >= 0.0),
        ];
        for (name, value, ok) in checks {
            if !ok || !value.is_finite() {
                bail_input!("{name} is out of range: {value}");
            }
        }
        Ok(())
    }
}

/// The two moments of one parameter (f32): plain vectors on the CPU, where one pass updates them
/// with the parameter ([`FusedStep`]); tensors on other devices.
#[derive(Debug)]
enum Moments {
    Host { m: Vec<f32>, v: Vec<f32>, shape: Shape },
    Device { m: Tensor, v: Tensor },
}

impl Moments {
    fn zeros(var: &Var) -> Result<Self> {
        let n = var.elem_count();
        Ok(match var.device() {
            Device::Cpu => Moments::Host { m: vec![0.0; n], v: vec![0.0; n], shape: var.shape().clone() },
            device => {
                // Separate allocations: the moments are updated in place.
                let zeros = || Tensor::zeros(var.shape(), DType::F32, device);
                Moments::Device { m: zeros()?, v: zeros()? }
            }
        })
    }

    /// From saved (m, v) tensors of `var`'s shape, on `var`'s device.
    fn from_tensors(m: Tensor, v: Tensor, var: &Var) -> Result<Self> {
        Ok(match var.device() {
            Device::Cpu => Moments::Host {
                m: m.flatten_all()?.to_vec1()?,
                v: v.flatten_all()?.to_vec1()?,
                shape: var.shape().clone(),
            },
            device => Moments::Device { m: m.to_device(device)?, v: v.to_device(device)? },
        })
    }

    /// (m, v) as tensors of the parameter's shape (copies of the host vectors).
    fn tensors(&self) -> Result<(Tensor, Tensor)> {
        Ok(match self {
            Moments::Host { m, v, shape } => {
                let tensor = |x: &[f32]| Tensor::from_slice(x, shape, &Device::Cpu);
                (tensor(m)?, tensor(v)?)
            }
            Moments::Device { m, v } => (m.clone(), v.clone()),
        })
    }
}

/// Moments of one parameter, and its f32 master copy when the parameter itself is not f32.
#[derive(Debug)]
struct ParamState {
    moments: Moments,
    master: Option<Tensor>,
}

/// AdamW over a fixed list of named parameters.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    names: Vec<String>,
    state: Vec<ParamState>,
    step: u64,
}

const FORMAT: &str = "lgpo-adamw-v1";

/// One parameter's update with the in-place kernels: one pass on the CPU, where the gradient is
/// `g × grad_scale`; a pass per moment and one for the parameter on CUDA (`grad_scale` 1).
#[allow(clippy::too_many_arguments)]
fn update_in_place(
    var: &Var,
    g: &Tensor,
    grad_scale: f64,
    state: &mut ParamState,
    c: &AdamWConfig,
    lr: f64,
    bias1: f64,
    bias2: f64,
) -> Result<()> {
    let g = g.contiguous()?;
    let update = ParamUpdate {
        lr: lr as f32,
        weight_decay: c.weight_decay as f32,
        bias1: bias1 as f32,
        bias2: bias2 as f32,
        eps: c.eps as f32,
    };
    let target = state.master.as_ref().unwrap_or_else(|| var.as_tensor());
    match &mut state.moments {
        Moments::Host { m, v, .. } => {
            let step = FusedStep {
                moments: Mutex::new((m.as_mut_slice(), v.as_mut_slice())),
                betas: (c.beta1 as f32, c.beta2 as f32),
                scale: grad_scale as f32,
                update,
            };
            target.inplace_op2(&g, &step)?;
        }
        Moments::Device { m, v } => {
            if grad_scale != 1.0 {
                crate::bail_input!("the device AdamW kernels take unscaled gradients");
            }
            m.inplace_op2(&g, &MomentUpdate { beta: c.beta1 as f32, square: false })?;
            v.inplace_op2(&g, &MomentUpdate { beta: c.beta2 as f32, square: true })?;
            target.inplace_op3(m, v, &update)?;
        }
    }
    if let Some(master) = &state.master {
        var.set(&master.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// The same update from candle tensor ops (any device; the reference of the kernels).
fn update_with_tensor_ops(
    var: &Var,
    g: &Tensor,
    state: &mut ParamState,
    c: &AdamWConfig,
    lr: f64,
    bias1: f64,
    bias2: f64,
) -> Result<()> {
    let Moments::Device { m, v } = &mut state.moments else {
        crate::bail_input!("the tensor-op update needs the moments as tensors");
    };
    *m = ((&*m * c.beta1)? + (g * (1.0 - c.beta1))?)?;
    *v = ((&*v * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
    let (m, v) = (m.clone(), v.clone());
    let master = match &state.master {
        Some(m) => m.clone(),
        None => var.as_tensor().detach(),
    };
    let decayed = (&master * (1.0 - lr * c.weight_decay))?;
    let denom = ((&v / bias2)?.sqrt()? + c.eps)?;
    let new = (decayed - (((&m / bias1)? / denom)? * lr)?)?;
    match &mut state.master {
        Some(m) => {
            var.set(&new.to_dtype(var.dtype())?)?;
            *m = new;
        }
        None => var.set(&new)?,
    }
    Ok(())
}

impl AdamW {
    /// Fresh state for `params` (names as in [`crate::model::Qwen2::params`]).
    pub fn new(params: &[(String, Var)], config: AdamWConfig) -> Result<Self> {
        config.validate()?;
        let state = params
            .iter()
            .map(|(_, var)| {
                let master = match var.dtype() {
                    DType::F32 => None,
                    _ => Some(var.as_tensor().to_dtype(DType::F32)?.detach()),
                };
                Ok(ParamState { moments: Moments::zeros(var)?, master })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(AdamW { config, names: params.iter().map(|(n, _)| n.clone()).collect(), state, step: 0 })
    }

    /// Number of steps taken.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// One update with learning rate `lr`; `grads[i]` is the gradient of `params[i]`.
    pub fn step(&mut self, params: &[(String, Var)], grads: &[Tensor], lr: f64) -> Result<()> {
        self.step_scaled(params, grads, lr, 1.0)
    }

    /// [`AdamW::step`] on the gradients times `grad_scale` (gradient clipping's factor), without
    /// writing the scaled gradients: the in-place kernels scale as they read.
    pub fn step_scaled(&mut self, params: &[(String, Var)], grads: &[Tensor], lr: f64, grad_scale: f64) -> Result<()> {
        if params.len() != self.state.len() || grads.len() != self.state.len() {
            bail_input!(
                "optimizer holds {} parameters, got {} parameters and {} gradients",
                self.state.len(),
                params.len(),
                grads.len()
            );
        }
        self.step += 1;
        let c = self.config;
        let bias1 = 1.0 - c.beta1.powi(self.step as i32);
        let bias2 = 1.0 - c.beta2.powi(self.step as i32);
        for (((_, var), grad), state) in params.iter().zip(grads).zip(self.state.iter_mut()) {
            let g = grad.to_dtype(DType::F32)?;
            if var.device().is_cpu() {
                update_in_place(var, &g, grad_scale, state, &c, lr, bias1, bias2)?;
            } else {
                // The CUDA kernels read the gradient unscaled.
                let g = if grad_scale == 1.0 { g } else { (g * grad_scale)? };
                if var.device().is_cuda() {
                    update_in_place(var, &g, 1.0, state, &c, lr, bias1, bias2)?;
                } else {
                    update_with_tensor_ops(var, &g, state, &c, lr, bias1, bias2)?;
                }
            }
        }
        Ok(())
    }

    /// Writes the state to `path` (safetensors) atomically: a temporary file renamed into
    /// place, so a crash never leaves a partial checkpoint.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, s) in self.names.iter().zip(&self.state) {
            let (m, v) = s.moments.tensors()?;
            tensors.push((format!("m.{name}"), m));
            tensors.push((format!("v.{name}"), v));
            if let Some(master) = &s.master {
                tensors.push((format!("master.{name}"), master.clone()));
            }
        }
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("step".to_string(), self.step.to_string()),
            ("config".to_string(), serde_json::to_string(&self.config).expect("config serialises")),
        ]);
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        safetensors::serialize_to_file(tensors, Some(metadata), &tmp)
            .map_err(|e| Error::Checkpoint { path: tmp.clone(), message: e.to_string() })?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a state written by [`AdamW::save`] for the same `params`, with `config` (the
    /// hyper-parameters may change between runs; the moments and step count are restored).
    pub fn load(path: impl AsRef<Path>, params: &[(String, Var)], config: AdamWConfig) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        let bad = |message: String| Error::Checkpoint { path: path.to_path_buf(), message };
        let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let meta = metadata.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(FORMAT) {
            return Err(bad(format!("not an lgpo AdamW state (format {:?})", meta.get("format"))));
        }
        let step: u64 = meta.get("step").and_then(|s| s.parse().ok()).ok_or_else(|| bad("no valid `step`".into()))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &candle_core::Device::Cpu)?;
        let mut optimizer = AdamW::new(params, config)?;
        for ((name, var), state) in params.iter().zip(optimizer.state.iter_mut()) {
            let take = |kind: &str| -> Result<Tensor> {
                let key = format!("{kind}.{name}");
                let t = tensors
                    .get(&key)
                    .ok_or_else(|| Error::MissingTensor { path: path.to_path_buf(), tensor: key.clone() })?;
                if t.dims() != var.dims() {
                    return Err(Error::TensorShape {
                        path: path.to_path_buf(),
                        tensor: key,
                        expected: var.dims().to_vec(),
                        found: t.dims().to_vec(),
                    });
                }
                Ok(t.to_dtype(DType::F32)?)
            };
            state.moments = Moments::from_tensors(take("m")?, take("v")?, var)?;
            if state.master.is_some() {
                state.master = Some(take("master")?.to_device(var.device())?);
            }
        }
        optimizer.step = step;
        Ok(optimizer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Two steps on a scalar against PyTorch's AdamW formulas written out by hand.
    #[test]
    fn matches_the_pytorch_update() -> Result<()> {
        let var = Var::new(&[1.0f32], &Device::Cpu)?;
        let params = vec![("w".to_string(), var.clone())];
        let config = AdamWConfig { lr: 0.1, weight_decay: 0.5, ..AdamWConfig::default() };
        let mut opt = AdamW::new(&params, config)?;
        let (mut theta, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
        for (t, g) in [(1, 0.5f64), (2, -2.0)] {
            opt.step(&params, &[Tensor::new(&[g as f32], &Device::Cpu)?], 0.1)?;
            theta *= 1.0 - 0.1 * 0.5;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let (mh, vh) = (m / (1.0 - 0.9f64.powi(t)), v / (1.0 - 0.999f64.powi(t)));
            theta -= 0.1 * mh / (vh.sqrt() + 1e-8);
            let got = var.as_tensor().to_vec1::<f32>()?[0] as f64;
            assert!((got - theta).abs() < 1e-6, "step {t}: {got} vs {theta}");
        }
        Ok(())
    }

    /// The one-pass CPU kernel gives the tensor-op update, also with the gradient scaled inside
    /// the kernel (clipping) against a scaled copy.
    #[test]
    fn kernels_match_the_tensor_op_update() -> Result<()> {
        let init: Vec<f32> = (0..1000).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
        let a = Var::new(init.as_slice(), &Device::Cpu)?;
        let b = Var::new(init.as_slice(), &Device::Cpu)?;
        let config = AdamWConfig { lr: 0.01, weight_decay: 0.1, ..AdamWConfig::default() };
        let mut state_a = ParamState { moments: Moments::zeros(&a)?, master: None };
        let zeros = || Tensor::zeros(1000, DType::F32, &Device::Cpu);
        let mut state_b = ParamState { moments: Moments::Device { m: zeros()?, v: zeros()? }, master: None };
        for step in 1..=3 {
            let g =
                Tensor::new(init.iter().map(|x| x.sin() * step as f32).collect::<Vec<_>>().as_slice(), &Device::Cpu)?;
            let (b1, b2) = (1.0 - 0.9f64.powi(step), 1.0 - 0.999f64.powi(step));
            let scale = 1.0 / step as f64;
            update_in_place(&a, &g, scale, &mut state_a, &config, 0.01, b1, b2)?;
            update_with_tensor_ops(&b, &(&g * scale)?, &mut state_b, &config, 0.01, b1, b2)?;
        }
        let diff = (a.as_tensor() - b.as_tensor())?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(diff < 1e-6, "{diff}");
        Ok(())
    }

    /// bf16 parameters are updated through the f32 master copy: updates far below bf16's
    /// resolution still accumulate.
    #[test]
    fn bf16_parameters_keep_an_f32_master() -> Result<()> {
        let var = Var::from_tensor(&Tensor::new(&[1.0f32], &Device::Cpu)?.to_dtype(DType::BF16)?)?;
        let params = vec![("w".to_string(), var.clone())];
        let config = AdamWConfig { lr: 1e-4, weight_decay: 0.0, ..AdamWConfig::default() };
        let mut opt = AdamW::new(&params, config)?;
        for _ in 0..100 {
            opt.step(&params, &[Tensor::new(&[1.0f32], &Device::Cpu)?.to_dtype(DType::BF16)?], 1e-4)?;
        }
        // Each step moves ~1e-4; bf16's spacing at 1 is 2^-7 ≈ 0.0078, so without a master
        // copy the weight would never move.
        let got = var.as_tensor().to_dtype(DType::F32)?.to_vec1::<f32>()?[0];
        assert!((got - 0.99).abs() < 0.004, "{got}");
        Ok(())
    }
}
