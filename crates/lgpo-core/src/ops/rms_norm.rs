//! RMSNorm, `y = x / sqrt(mean(x^2) + eps) * w`, over the last dimension.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, WithDType, D};
use rayon::prelude::*;

use super::cpu::{contiguous_slice, dispatch_float};
use crate::{bail_input, Result};

struct RmsNorm {
    eps: f64,
}

fn rms_norm_rows<T: WithDType>(x: &[T], w: &[T], eps: f64) -> Vec<T> {
    let dim = w.len();
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(dim).zip(x.par_chunks(dim)).for_each(|(y, x)| {
        let mean_sq = x.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>() / dim as f64;
        let r = 1.0 / (mean_sq + eps).sqrt();
        for ((y, x), w) in y.iter_mut().zip(x).zip(w) {
            *y = T::from_f64(x.to_f64() * r * w.to_f64());
        }
    });
    out
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "lgpo-rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        dispatch_float!(xs, self.name(), |T| {
            let x = contiguous_slice::<T>(xs, xl, self.name())?;
            let w = contiguous_slice::<T>(ws, wl, self.name())?;
            let y = rms_norm_rows(x, w, self.eps);
            Ok((T::to_cpu_storage_owned(y), xl.shape().clone()))
        })
    }

    /// With r = (mean(x^2) + eps)^-1/2, x̂ = x r and g = dL/dy:
    ///   dL/dw = Σ_rows g ⊙ x̂
    ///   dL/dx = r (g ⊙ w − x̂ · mean(g ⊙ w ⊙ x̂))
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let r = (x.sqr()?.mean_keepdim(D::Minus1)? + self.eps)?.sqrt()?.recip()?;
        let x_hat = x.broadcast_mul(&r)?;
        let g_w = grad.broadcast_mul(w)?;
        let dot = (&g_w * &x_hat)?.mean_keepdim(D::Minus1)?;
        let dx = (g_w - x_hat.broadcast_mul(&dot)?)?.broadcast_mul(&r)?;
        let rows = x.elem_count() / w.elem_count();
        let dw = (grad * &x_hat)?.reshape((rows, w.elem_count()))?.sum(0)?;
        Ok((Some(dx), Some(dw)))
    }
}

/// RMSNorm of `x` (…, d) with weight `w` (d), differentiable in both.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    check_shapes(x, w)?;
    if !x.device().is_cpu() {
        return rms_norm_slow(x, w, eps);
    }
    Ok(x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })?)
}

/// Reference RMSNorm from plain candle ops (computed in f32 like Hugging Face's Qwen2RMSNorm).
pub fn rms_norm_slow(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    check_shapes(x, w)?;
    let dtype = x.dtype();
    let x32 = x.to_dtype(candle_core::DType::F32)?;
    let r = (x32.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?.recip()?;
    let y = x32.broadcast_mul(&r)?.to_dtype(dtype)?;
    Ok(y.broadcast_mul(w)?)
}

fn check_shapes(x: &Tensor, w: &Tensor) -> Result<()> {
    if w.rank() != 1 || x.rank() == 0 || x.dim(D::Minus1)? != w.dim(0)? {
        bail_input!("rms_norm: x {:?} and weight {:?} do not match", x.shape(), w.shape());
    }
    if x.dtype() != w.dtype() {
        bail_input!("rms_norm: x is {:?} but weight is {:?}", x.dtype(), w.dtype());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, finite_difference_grad, random_tensor};
    use candle_core::{DType, Device, Var};

    #[test]
    fn forward_matches_reference() -> Result<()> {
        let x = random_tensor(&[3, 5, 16], 1, DType::F32)?;
        let w = random_tensor(&[16], 2, DType::F32)?;
        let fused = rms_norm(&x, &w, 1e-6)?;
        let slow = rms_norm_slow(&x, &w, 1e-6)?;
        assert_close(&fused, &slow, 1e-6, "rms_norm forward");
        Ok(())
    }

    #[test]
    fn backward_matches_finite_differences() -> Result<()> {
        let x = Var::from_tensor(&random_tensor(&[2, 3, 8], 3, DType::F64)?)?;
        let w = Var::from_tensor(&random_tensor(&[8], 4, DType::F64)?)?;
        // A random linear functional of the output makes every output element matter.
        let probe = random_tensor(&[2, 3, 8], 5, DType::F64)?;
        let loss = |x: &Tensor, w: &Tensor| -> Result<Tensor> { Ok((rms_norm(x, w, 1e-5)? * &probe)?.sum_all()?) };
        let grads = loss(x.as_tensor(), w.as_tensor())?.backward()?;
        let dx = grads.get(x.as_tensor()).expect("grad of x");
        let dw = grads.get(w.as_tensor()).expect("grad of w");
        let fd_x = finite_difference_grad(x.as_tensor(), |xp| loss(xp, w.as_tensor()))?;
        let fd_w = finite_difference_grad(w.as_tensor(), |wp| loss(x.as_tensor(), wp))?;
        assert_close(dx, &fd_x, 1e-7, "rms_norm dL/dx");
        assert_close(dw, &fd_w, 1e-7, "rms_norm dL/dw");
        Ok(())
    }

    #[test]
    fn rejects_mismatched_weight() {
        let x = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::zeros(5, DType::F32, &Device::Cpu).unwrap();
        let err = rms_norm(&x, &w, 1e-6).unwrap_err().to_string();
        assert!(err.contains("rms_norm"), "{err}");
    }
}
