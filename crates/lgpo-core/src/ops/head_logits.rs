//! The LM head of a decode step on the CPU: logits (B, V) = h (B, d) · Wᵀ for the few rows of
//! one step, in vocabulary tiles spread over the threads.
//!
//! candle's matmul hands gemm the whole transposed head (d, V), and gemm repacks all of it every
//! step before multiplying (545 MB at Qwen2.5's 151,936 × 896 head): at 16 rows about half the
//! head's time went to that packing. Here each thread computes tiles of `TILE` head rows
//! transposed, (width, B) = W_tile · hᵀ, an orientation in which gemm packs only the few hidden
//! rows and reads the head rows where they lie, and writes them into its columns of the logits.
//! No backward: decoding records no graph.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{contiguous_slice, matmul, MatRef};
use crate::Result;

/// Head rows per tile (256, 512 and 1024 were within the noise of each other at 16 and 64 rows
/// at the half shape; 4096 was slower; docs/benchmarks.md).
const TILE: usize = 512;

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
            (0..vocab.div_ceil(TILE)).into_par_iter().for_each_init(Vec::new, |tile, t| {
                let start = t * TILE;
                let width = TILE.min(vocab - start);
                let w_tile = &w[start * d..(start + width) * d];
                // The tile transposed, (width, rows) = w_tile · hᵀ: gemm then reads the head rows
                // in place, with no packed copy of them.
                tile.resize(width * rows, 0.0);
                matmul(tile, (width, rows, d), MatRef::row_major(w_tile, d), MatRef::transposed(h, d), false);
                for i in 0..rows {
                    let row = (base as *mut f32).wrapping_add(i * vocab + start);
                    for (j, column) in tile.chunks_exact(rows).enumerate() {
                        // SAFETY: row i, column start + j of the row-major (rows, vocab) `out`,
                        // which outlives the loop; no other tile writes these columns.
                        unsafe { *row.add(j) = column[i] };
                    }
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

    /// Against an f64 product, with a vocabulary that is not a multiple of the tile, a width
    /// that is not a multiple of 8 lanes, and row counts below, at and above gemm's register
    /// blocks.
    #[test]
    fn matches_the_f64_product() -> Result<()> {
        let (vocab, d) = (3 * TILE + 17, 43);
        let head = random((vocab, d), 1)?;
        for rows in [1, 2, 3, 5, 16, 17, 64, 65] {
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
