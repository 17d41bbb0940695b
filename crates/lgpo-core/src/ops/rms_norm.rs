//! RMSNorm, `y = x / sqrt(mean(x^2) + eps) * w`, over the last dimension.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, WithDType, D};
use rayon::prelude::*;

use super::cpu::{contiguous_slice, dispatch_float};
use super::has_kernel;
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

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        xs: &candle_core::CudaStorage,
        xl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Ok((crate::cuda::rms_norm::forward(xs, xl, ws, wl, self.eps)?, xl.shape().clone()))
    }

    /// With r = (mean(x^2) + eps)^-1/2, x̂ = x r and g = dL/dy:
    ///   dL/dw = Σ_rows g ⊙ x̂
    ///   dL/dx = r (g ⊙ w − x̂ · mean(g ⊙ w ⊙ x̂))
    /// computed by [`RmsNormGrad`] (f32 accumulation), the row sum of dL/dw by candle.
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let rows = x.elem_count() / d;
        let packed = x.apply_op3_no_bwd(w, &grad.contiguous()?, &RmsNormGrad { eps: self.eps })?; // (2·rows, d)
        let dx = packed.narrow(0, 0, rows)?.reshape(x.shape())?.to_dtype(x.dtype())?;
        let dw = packed.narrow(0, rows, rows)?.sum(0)?.to_dtype(w.dtype())?;
        Ok((Some(dx), Some(dw)))
    }
}

/// The backward of [`RmsNorm`] as one pass per row: from x (…, d), w (d) and g = dL/dy it
/// returns (2·rows, d) = [dL/dx; g ⊙ x̂], the second half being each row's term of dL/dw, in f32
/// (f64 for f64 inputs).
struct RmsNormGrad {
    eps: f64,
}

fn rms_norm_grad_rows<T: WithDType, O: WithDType>(x: &[T], w: &[T], g: &[T], eps: f64) -> Vec<O> {
    let d = w.len();
    let rows = x.len() / d;
    let mut out = vec![O::zero(); 2 * x.len()];
    let (dx, dw_rows) = out.split_at_mut(rows * d);
    dx.par_chunks_mut(d).zip(dw_rows.par_chunks_mut(d)).zip(x.par_chunks(d).zip(g.par_chunks(d))).for_each(
        |((dx, dw), (x, g))| {
            let mean_sq = x.iter().map(|v| v.to_f64() * v.to_f64()).sum::<f64>() / d as f64;
            let r = 1.0 / (mean_sq + eps).sqrt();
            let dot = x.iter().zip(g).zip(w).map(|((x, g), w)| g.to_f64() * w.to_f64() * x.to_f64() * r).sum::<f64>()
                / d as f64;
            for i in 0..d {
                let (x_hat, g) = (x[i].to_f64() * r, g[i].to_f64());
                dx[i] = O::from_f64(r * (g * w[i].to_f64() - x_hat * dot));
                dw[i] = O::from_f64(g * x_hat);
            }
        },
    );
    out
}

impl CustomOp3 for RmsNormGrad {
    fn name(&self) -> &'static str {
        "lgpo-rms-norm-grad"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        gs: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = wl.shape().elem_count();
        let shape = Shape::from((2 * (xl.shape().elem_count() / d), d));
        dispatch_float!(xs, self.name(), |T| {
            let x = contiguous_slice::<T>(xs, xl, self.name())?;
            let w = contiguous_slice::<T>(ws, wl, self.name())?;
            let g = contiguous_slice::<T>(gs, gl, self.name())?;
            let out = match xs {
                CpuStorage::F64(_) => CpuStorage::F64(rms_norm_grad_rows(x, w, g, self.eps)),
                _ => CpuStorage::F32(rms_norm_grad_rows(x, w, g, self.eps)),
            };
            Ok((out, shape))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        xs: &candle_core::CudaStorage,
        xl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
        gs: &candle_core::CudaStorage,
        gl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let d = wl.shape().elem_count();
        let rows = xl.shape().elem_count() / d;
        let out = crate::cuda::rms_norm::backward((xs, xl), (ws, wl), (gs, gl), self.eps)?;
        Ok((out, Shape::from((2 * rows, d))))
    }
}

/// RMSNorm of `x` (…, d) with weight `w` (d), differentiable in both.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    check_shapes(x, w)?;
    if !has_kernel(x) {
        return rms_norm_slow(x, w, eps);
    }
    Ok(x.contiguous()?.apply_op2(&w.contiguous()?, RmsNorm { eps })?)
}

/// Reference RMSNorm from plain candle ops (computed in f32 like Hugging Face's Qwen2RMSNorm).
pub fn rms_norm_slow(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    check_shapes(x, w)?;
    let dtype = x.dtype();
    let x32 = x.to_dtype(DType::F32)?;
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
