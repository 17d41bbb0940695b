//! The machine's f32 matmul throughput through candle: the hardware limit that benchmarks compare
//! the training step's achieved FLOP/s with (model FLOPs utilisation, MFU).

use std::time::Instant;

use candle_core::{Device, Tensor};

use crate::Result;

/// FLOP/s of `repeats` products of two random `n × n` f32 matrices on `device` (2·n³ FLOPs
/// each), after one untimed warm-up product; the best of the repeats, as a peak is.
///
/// ```
/// let flops = lgpo_core::peak::matmul_flops(&candle_core::Device::Cpu, 64, 2).unwrap();
/// assert!(flops > 0.0);
/// ```
pub fn matmul_flops(device: &Device, n: usize, repeats: usize) -> Result<f64> {
    let a = Tensor::randn(0f32, 1.0, (n, n), device)?;
    let b = Tensor::randn(0f32, 1.0, (n, n), device)?;
    a.matmul(&b)?; // warm-up (allocations, thread pool)
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        let c = a.matmul(&b)?;
        device.synchronize()?;
        drop(c);
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(2.0 * (n as f64).powi(3) / best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_product_has_positive_finite_throughput() {
        let flops = matmul_flops(&Device::Cpu, 32, 3).unwrap();
        assert!(flops.is_finite() && flops > 0.0);
    }
}
