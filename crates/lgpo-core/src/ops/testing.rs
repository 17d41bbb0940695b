//! Test helpers for ops: seeded random tensors, finite differences, closeness.

use candle_core::{DType, Device, Tensor};

use crate::rng::SplitMix64;
use crate::Result;

/// A tensor of standard normal values from `seed`, in `dtype`, on CPU.
pub fn random_tensor(shape: &[usize], seed: u64, dtype: DType) -> Result<Tensor> {
    let mut rng = SplitMix64::new(seed);
    let n: usize = shape.iter().product();
    let values: Vec<f64> = (0..n).map(|_| rng.next_normal()).collect();
    Ok(Tensor::from_vec(values, shape, &Device::Cpu)?.to_dtype(dtype)?)
}

/// Central finite differences of the scalar function `f` at `x` (f64), step 1e-6.
pub fn finite_difference_grad(x: &Tensor, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let h = 1e-6;
    let base: Vec<f64> = x.flatten_all()?.to_vec1()?;
    let mut grad = Vec::with_capacity(base.len());
    for i in 0..base.len() {
        let eval = |delta: f64| -> Result<f64> {
            let mut v = base.clone();
            v[i] += delta;
            Ok(f(&Tensor::from_vec(v, x.shape(), x.device())?)?.to_scalar::<f64>()?)
        };
        grad.push((eval(h)? - eval(-h)?) / (2.0 * h));
    }
    Ok(Tensor::from_vec(grad, x.shape(), x.device())?)
}

/// Asserts max |a − b| ≤ tol · (1 + max |b|), naming `what` on failure.
pub fn assert_close(a: &Tensor, b: &Tensor, tol: f64, what: &str) {
    assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
    let a: Vec<f64> = a.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f64> = b.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let scale = 1.0 + b.iter().fold(0f64, |m, v| m.max(v.abs()));
    let diff = a.iter().zip(&b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(diff <= tol * scale, "{what}: max abs difference {diff:e} exceeds {:e}", tol * scale);
}
