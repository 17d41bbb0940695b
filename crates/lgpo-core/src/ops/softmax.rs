//! Softmax and log-sum-exp over the last dimension, composed from differentiable candle ops.
//!
//! candle's fused `softmax_last_dim` has no backward. The max subtracted for stability is
//! detached: softmax and log-sum-exp do not depend on it, so its gradient would be zero anyway.

use candle_core::{Tensor, D};

use crate::Result;

/// Softmax over the last dimension, differentiable.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let exp = x.broadcast_sub(&max)?.exp()?;
    Ok(exp.broadcast_div(&exp.sum_keepdim(D::Minus1)?)?)
}

/// log Σ exp(x) over the last dimension (kept as a size-1 dimension), differentiable.
pub fn log_sum_exp(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let sum = x.broadcast_sub(&max)?.exp()?.sum_keepdim(D::Minus1)?;
    Ok((sum.log()? + max)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, finite_difference_grad, random_tensor};
    use candle_core::{DType, Var};

    #[test]
    fn softmax_matches_candle_and_has_exact_gradient() -> Result<()> {
        let x = Var::from_tensor(&(random_tensor(&[3, 7], 1, DType::F64)? * 4.0)?)?;
        let reference = candle_nn::ops::softmax_last_dim(x.as_tensor())?;
        assert_close(&softmax_last_dim(x.as_tensor())?, &reference, 1e-12, "softmax forward");
        let probe = random_tensor(&[3, 7], 2, DType::F64)?;
        let loss = |x: &Tensor| -> Result<Tensor> { Ok((softmax_last_dim(x)? * &probe)?.sum_all()?) };
        let grads = loss(x.as_tensor())?.backward()?;
        let fd = finite_difference_grad(x.as_tensor(), loss)?;
        assert_close(grads.get(x.as_tensor()).expect("grad"), &fd, 1e-7, "softmax backward");
        Ok(())
    }

    #[test]
    fn log_sum_exp_does_not_overflow() -> Result<()> {
        let x = Tensor::new(&[[1000f32, 1000.0], [-1000.0, -1000.0]], &candle_core::Device::Cpu)?;
        let lse = log_sum_exp(&x)?.flatten_all()?.to_vec1::<f32>()?;
        let ln2 = 2f32.ln();
        assert!((lse[0] - (1000.0 + ln2)).abs() < 1e-3 && (lse[1] - (-1000.0 + ln2)).abs() < 1e-3, "{lse:?}");
        Ok(())
    }
}
