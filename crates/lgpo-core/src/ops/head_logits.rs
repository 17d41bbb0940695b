//! The LM head of a decode step on the CPU: logits (B, V) = h (B, d) · Wᵀ for the few rows of
//! one step, in vocabulary tiles spread over the threads.
//!
//! candle's matmul hands gemm the whole transposed head (d, V), and gemm repacks all of it every
//! step before multiplying (545 MB at Qwen2.5's 151,936 × 896 head): at 16 rows about half the
//! head's time went to that packing. Here each thread takes contiguous tiles of `TILE` head rows,
//! small enough that gemm's packed copy of a tile stays in cache, and writes its columns of the
//! logits in place. No backward: decoding records no graph.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::contiguous_slice;
use crate::Result;

/// Head rows per tile: 64 × 896 f32 = 224 KiB at Qwen2.5-0.5B, within a core's L2 (64, 128 and
/// 256 were within 5% of each other at 16 and 64 rows; docs/benchmarks.md).
const TILE: usize = 64;

struct HeadLogits;

impl CustomOp2 for HeadLogits {
    fn name(&self) -> &'static str {
        "lgpo-head-logits"
    }

    fn cpu_fwd(
        &self,
        h: &CpuStorage,
        hl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, d) = hl.shape().dims2()?;
        let (vocab, dw) = wl.shape().dims2()?;
        if d != dw {
            candle_core::bail!("{}: hidden states have width {d}, the head {dw}", self.name());
        }
        let h = contiguous_slice::<f32>(h, hl, self.name())?;
        let w = contiguous_slice::<f32>(w, wl, self.name())?;
        let mut out = vec![0f32; rows * vocab];
        if rows > 0 && d > 0 {
            // Tiles write disjoint column ranges of `out`; the address travels as an integer.
            let base = out.as_mut_ptr() as usize;
            (0..vocab.div_ceil(TILE)).into_par_iter().for_each(|t| {
                let start = t * TILE;
                let width = TILE.min(vocab - start);
                let w_tile = &w[start * d..(start + width) * d];
                // SAFETY: the product reads h (rows, d) and w_tile (width, d) within their slices
                // and writes dst (rows, width) at columns start..start + width of the row-major
                // (rows, vocab) `out`, which no other tile writes and which outlives the loop.
                unsafe {
                    gemm::gemm(
                        rows,
                        width,
                        d,
                        (base as *mut f32).add(start),
                        1,
                        vocab as isize,
                        false,
                        h.as_ptr(),
                        1,
                        d as isize,
                        w_tile.as_ptr(),
                        d as isize,
                        1,
                        0.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    )
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, vocab))))
    }
}

/// Logits (B, V) f32 of final hidden states `hidden` (B, d) and the LM head `head` (V, d): the
/// tiled product above for contiguous f32 CPU tensors, candle's matmul otherwise.
pub fn head_logits(hidden: &Tensor, head: &Tensor) -> Result<Tensor> {
    let hidden = hidden.contiguous()?;
    if hidden.device().is_cpu() && hidden.dtype() == DType::F32 && head.dtype() == DType::F32 && head.is_contiguous() {
        return Ok(hidden.apply_op2_no_bwd(head, &HeadLogits)?);
    }
    Ok(hidden.matmul(&head.t()?)?.to_dtype(DType::F32)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn random(shape: (usize, usize), seed: u64) -> Result<Tensor> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let n = shape.0 * shape.1;
        let values: Vec<f32> = (0..n).map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0).collect();
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    }

    /// Against an f64 product, with a vocabulary that is not a multiple of the tile and rows
    /// from one to more than a step usually has.
    #[test]
    fn matches_the_f64_product() -> Result<()> {
        let (vocab, d) = (3 * TILE + 17, 40);
        let head = random((vocab, d), 1)?;
        for rows in [1, 5, 64] {
            let hidden = random((rows, d), rows as u64)?;
            let got = head_logits(&hidden, &head)?;
            assert_eq!(got.dims(), [rows, vocab]);
            let want = hidden.to_dtype(DType::F64)?.matmul(&head.to_dtype(DType::F64)?.t()?)?;
            let err = (got.to_dtype(DType::F64)? - &want)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert!(err < 1e-4, "rows {rows}: max error {err}");
        }
        Ok(())
    }

    /// A strided view of the hidden states (the prefill's last column) and f64 tensors (candle's
    /// path) give the same logits.
    #[test]
    fn strided_and_other_dtypes_take_the_general_path() -> Result<()> {
        let head = random((TILE + 3, 8), 7)?;
        let states = random((6, 8), 8)?.reshape((3, 2, 8))?;
        let last = states.narrow(1, 1, 1)?.squeeze(1)?; // (3, 8), not contiguous
        assert!(!last.is_contiguous());
        let got = head_logits(&last, &head)?;
        let want = head_logits(&last.to_dtype(DType::F64)?, &head.to_dtype(DType::F64)?)?;
        let err = (got - want)?.abs()?.max_all()?.to_scalar::<f32>()?;
        assert!(err < 1e-5, "max error {err}");
        Ok(())
    }
}
