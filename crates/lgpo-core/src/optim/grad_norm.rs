//! Global gradient norm and clipping over all parameters (as `torch.nn.utils.clip_grad_norm_`).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use crate::ops::cpu::contiguous_slice;
use crate::Result;

/// Σ g² of a contiguous f32 CPU tensor in one read, as an f64 scalar tensor (the generic path
/// writes a full-size g² first: a 166 M-value pass per parameter set and step at Qwen2.5's head).
struct SumOfSquares;

impl CustomOp1 for SumOfSquares {
    fn name(&self) -> &'static str {
        "lgpo-sum-of-squares"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = contiguous_slice::<f32>(s, l, self.name())?;
        // f32 partial sums over chunks of 4,096 values, added up in f64.
        let sum: f64 = g.par_chunks(1 << 16).map(|c| c.chunks(4096).map(squares_f32).sum::<f64>()).sum();
        Ok((CpuStorage::F64(vec![sum]), Shape::from(())))
    }
}

/// Σ x² of a short slice in 16 independent f32 lanes (a single running sum would not vectorise).
fn squares_f32(values: &[f32]) -> f64 {
    let mut lanes = [0f32; 16];
    let tiles = values.chunks_exact(16);
    let rest: f32 = tiles.remainder().iter().map(|&x| x * x).sum();
    for tile in tiles {
        for (lane, &x) in lanes.iter_mut().zip(tile) {
            *lane += x * x;
        }
    }
    lanes.iter().map(|&l| l as f64).sum::<f64>() + rest as f64
}

fn sum_of_squares(g: &Tensor) -> Result<f64> {
    if g.device().is_cpu() && g.dtype() == DType::F32 && g.is_contiguous() {
        return Ok(g.apply_op1_no_bwd(&SumOfSquares)?.to_scalar::<f64>()?);
    }
    Ok(g.to_dtype(DType::F32)?.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// sqrt(Σ_p ‖g_p‖²) over all gradients, summed in f64 on the host (NaN/inf propagate).
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let mut sum = 0.0;
    for g in grads {
        sum += sum_of_squares(g)?;
    }
    Ok(sum.sqrt())
}

/// The factor that brings gradients of global norm `norm` down to at most `max_norm`: 1 when
/// they are within it or the norm is not finite.
pub fn clip_factor(norm: f64, max_norm: f64) -> f64 {
    if norm.is_finite() && norm > max_norm {
        max_norm / (norm + 1e-6)
    } else {
        1.0
    }
}

/// Scales `grads` so that their global norm is at most `max_norm` and returns the norm before
/// clipping. Non-finite norms are returned unchanged and nothing is scaled.
pub fn clip_grad_norm(grads: &mut [Tensor], max_norm: f64) -> Result<f64> {
    let norm = global_norm(grads)?;
    let scale = clip_factor(norm, max_norm);
    if scale != 1.0 {
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
        assert_eq!(clip_factor(f64::NAN, 1.0), 1.0);
        Ok(())
    }

    /// The one-read sum of squares against candle's sqr + sum, on a tensor longer than one chunk,
    /// and the generic path for a strided view.
    #[test]
    fn fused_norm_matches_the_generic_one() -> Result<()> {
        let n = (1 << 16) * 3 + 123;
        let values: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let g = Tensor::from_vec(values, n, &Device::Cpu)?;
        let want = g.to_dtype(DType::F64)?.sqr()?.sum_all()?.to_scalar::<f64>()?.sqrt();
        let got = global_norm(std::slice::from_ref(&g))?;
        // f32 squares summed in f32 over 4,096 values, then in f64.
        assert!((got - want).abs() < 1e-6 * want, "{got} vs {want}");
        let strided = Tensor::new(&[[3f32, 1.0], [4.0, 1.0]], &Device::Cpu)?.narrow(1, 0, 1)?;
        assert!((global_norm(&[strided])? - 5.0).abs() < 1e-6);
        Ok(())
    }
}
