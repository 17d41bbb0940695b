//! Global gradient norm and clipping over all parameters (as `torch.nn.utils.clip_grad_norm_`).

use candle_core::{DType, Tensor};

use crate::Result;

/// sqrt(Σ_p ‖g_p‖²) over all gradients, computed in f64 on the host (NaN/inf propagate).
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let mut sum = 0.0;
    for g in grads {
        sum += g.to_dtype(DType::F32)?.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    }
    Ok(sum.sqrt())
}

/// Scales `grads` so that their global norm is at most `max_norm` and returns the norm before
/// clipping. Non-finite norms are returned unchanged and nothing is scaled.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_norm(grads)?;
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in grads.iter_mut() {
            *g = (&*g * scale)?;
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn clips_to_the_max_norm_and_reports_the_original() -> Result<()> {
        let mut grads = vec![Tensor::new(&[3f32, 0.0], &Device::Cpu)?, Tensor::new(&[4f32], &Device::Cpu)?];
        let norm = clip_grad_norm(&mut grads, 1.0)?;
        assert!((norm - 5.0).abs() < 1e-6);
        assert!((global_norm(&grads)? - 1.0).abs() < 1e-5);
        let mut small = vec![Tensor::new(&[0.3f32], &Device::Cpu)?];
        clip_grad_norm(&mut small, 1.0)?;
        assert_eq!(small[0].to_vec1::<f32>()?, vec![0.3]);
        Ok(())
    }
}
