//! Rotary position embedding in Qwen2's (GPT-NeoX, "rotate half") layout.
//!
//! For each head vector x = [x1, x2] (halves of size D/2) at a position with angles θ:
//!   y1 = x1 cos θ − x2 sin θ,   y2 = x2 cos θ + x1 sin θ.
//! Angles are given per row and per position, so every sequence of a padded batch can have
//! its own positions.

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu::{contiguous_slice, dispatch_float};
use super::has_kernel;
use crate::{bail_input, Result};

struct Rope;

/// x: (B, H, T, D); cos, sin: (B, T, D/2).
fn rope_rows<T: WithDType>(x: &[T], cos: &[T], sin: &[T], (b, h, t, d): (usize, usize, usize, usize)) -> Vec<T> {
    let half = d / 2;
    let mut out = vec![T::zero(); x.len()];
    out.par_chunks_mut(t * d).zip(x.par_chunks(t * d)).enumerate().for_each(|(bh, (y, x))| {
        let row = bh / h;
        for pos in 0..t {
            let angles = (row * t + pos) * half;
            let (x, y) = (&x[pos * d..(pos + 1) * d], &mut y[pos * d..(pos + 1) * d]);
            for i in 0..half {
                let (c, s) = (cos[angles + i].to_f64(), sin[angles + i].to_f64());
                let (x1, x2) = (x[i].to_f64(), x[i + half].to_f64());
                y[i] = T::from_f64(x1 * c - x2 * s);
                y[i + half] = T::from_f64(x2 * c + x1 * s);
            }
        }
    });
    debug_assert_eq!(out.len(), b * h * t * d);
    out
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        "lgpo-rope"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        cs: &CpuStorage,
        cl: &Layout,
        ss: &CpuStorage,
        sl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let dims = xl.shape().dims4()?;
        dispatch_float!(xs, self.name(), |T| {
            let x = contiguous_slice::<T>(xs, xl, self.name())?;
            let cos = contiguous_slice::<T>(cs, cl, self.name())?;
            let sin = contiguous_slice::<T>(ss, sl, self.name())?;
            let y = rope_rows(x, cos, sin, dims);
            Ok((T::to_cpu_storage_owned(y), xl.shape().clone()))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        xs: &candle_core::CudaStorage,
        xl: &Layout,
        cs: &candle_core::CudaStorage,
        cl: &Layout,
        ss: &candle_core::CudaStorage,
        sl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        Ok((crate::cuda::rope::forward((xs, xl), (cs, cl), (ss, sl))?, xl.shape().clone()))
    }

    /// The rotation is orthogonal, so the gradient is the inverse rotation of g = dL/dy:
    ///   dL/dx1 = g1 cos θ + g2 sin θ,   dL/dx2 = g2 cos θ − g1 sin θ,
    /// i.e. rope(g, cos, −sin). The angles are constants (no gradient).
    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dx = grad.contiguous()?.apply_op3_no_bwd(cos, &sin.neg()?.contiguous()?, &Rope)?;
        Ok((Some(dx), None, None))
    }
}

/// Applies rotary embeddings to `x` (B, H, T, D) with per-row angles `cos`, `sin` (B, T, D/2).
/// Differentiable in `x`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    check_shapes(x, cos, sin)?;
    if !has_kernel(x) {
        return rope_slow(x, cos, sin);
    }
    Ok(x.contiguous()?.apply_op3(&cos.contiguous()?, &sin.contiguous()?, Rope)?)
}

/// Reference rotary embedding from plain candle ops (`x * cos + rotate_half(x) * sin`).
pub fn rope_slow(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    check_shapes(x, cos, sin)?;
    let (b, _h, t, d) = x.dims4()?;
    let cos = candle_core::Tensor::cat(&[cos, cos], 2)?.reshape((b, 1, t, d))?;
    let sin = candle_core::Tensor::cat(&[sin, sin], 2)?.reshape((b, 1, t, d))?;
    let x1 = x.narrow(3, 0, d / 2)?;
    let x2 = x.narrow(3, d / 2, d / 2)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], 3)?;
    Ok((x.broadcast_mul(&cos)? + rotated.broadcast_mul(&sin)?)?)
}

fn check_shapes(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<()> {
    let Ok((b, _h, t, d)) = x.dims4() else {
        bail_input!("rope: x must be (batch, heads, time, head_dim), got {:?}", x.shape());
    };
    if d % 2 != 0 {
        bail_input!("rope: head_dim {d} must be even");
    }
    for (name, angles) in [("cos", cos), ("sin", sin)] {
        if angles.dims() != [b, t, d / 2] {
            bail_input!("rope: {name} must be {:?}, got {:?}", [b, t, d / 2], angles.shape());
        }
        if angles.dtype() != x.dtype() {
            bail_input!("rope: {name} is {:?} but x is {:?}", angles.dtype(), x.dtype());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, finite_difference_grad, random_tensor};
    use candle_core::{DType, Var};

    fn angles(b: usize, t: usize, half: usize, dtype: DType) -> Result<(Tensor, Tensor)> {
        let theta = (random_tensor(&[b, t, half], 7, DType::F64)? * 3.0)?;
        Ok((theta.cos()?.to_dtype(dtype)?, theta.sin()?.to_dtype(dtype)?))
    }

    #[test]
    fn forward_matches_reference() -> Result<()> {
        let x = random_tensor(&[2, 3, 5, 8], 1, DType::F32)?;
        let (cos, sin) = angles(2, 5, 4, DType::F32)?;
        assert_close(&rope(&x, &cos, &sin)?, &rope_slow(&x, &cos, &sin)?, 1e-6, "rope forward");
        Ok(())
    }

    #[test]
    fn backward_matches_finite_differences() -> Result<()> {
        let x = Var::from_tensor(&random_tensor(&[2, 2, 3, 6], 2, DType::F64)?)?;
        let (cos, sin) = angles(2, 3, 3, DType::F64)?;
        let probe = random_tensor(&[2, 2, 3, 6], 3, DType::F64)?;
        let loss = |x: &Tensor| -> Result<Tensor> { Ok((rope(x, &cos, &sin)? * &probe)?.sum_all()?) };
        let grads = loss(x.as_tensor())?.backward()?;
        let fd = finite_difference_grad(x.as_tensor(), loss)?;
        assert_close(grads.get(x.as_tensor()).expect("grad of x"), &fd, 1e-7, "rope dL/dx");
        Ok(())
    }

    #[test]
    fn rejects_bad_angles() {
        let x = random_tensor(&[1, 2, 3, 4], 1, DType::F32).unwrap();
        let (cos, sin) = angles(1, 4, 2, DType::F32).unwrap();
        assert!(rope(&x, &cos, &sin).unwrap_err().to_string().contains("cos"));
    }
}
