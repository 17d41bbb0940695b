//! The LM head of a decode step on the CPU: logits (B, V) = h (B, d) · Wᵀ for the few rows of
//! one step, in vocabulary tiles spread over the threads.
//!
//! candle's matmul hands gemm the whole transposed head (d, V), and gemm repacks all of it every
//! step before multiplying (545 MB at Qwen2.5's 151,936 × 896 head): at 16 rows about half the
//! head's time went to that packing. Here each thread takes contiguous tiles of `TILE` head rows,
//! small enough that gemm's packed copy of a tile stays in cache, and writes its columns of the
//! logits in place; up to 64 rows on a CPU with AVX2 and FMA a dot-product kernel that makes no
//! packed copy at all replaces gemm. No backward: decoding records no graph.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{contiguous_slice, matmul_strided, MatRef};
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
            let dot = few_rows::available() && rows <= few_rows::MAX_ROWS;
            (0..vocab.div_ceil(TILE)).into_par_iter().for_each(|t| {
                let start = t * TILE;
                let width = TILE.min(vocab - start);
                let w_tile = &w[start * d..(start + width) * d];
                let dst = (base as *mut f32).wrapping_add(start);
                // SAFETY (both branches): the product reads h (rows, d) and w_tile (width, d) within
                // their slices and writes (rows, width) at columns start..start + width of the
                // row-major (rows, vocab) `out`, which no other tile writes and which outlives the
                // loop; the dot kernel runs only where the CPU has AVX2 and FMA.
                if dot {
                    #[cfg(target_arch = "x86_64")]
                    unsafe {
                        few_rows::tile(h, w_tile, d, dst, vocab)
                    }
                } else {
                    let (lhs, rhs) = (MatRef::row_major(h, d), MatRef::transposed(w_tile, d));
                    unsafe { matmul_strided(dst, vocab, (rows, width, d), lhs, rhs, false) }
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, vocab))))
    }
}

/// The head product for the few rows of a decode step, where streaming the head from memory
/// weighs as much as the arithmetic: dot products of 4 hidden rows with 3 head rows at a time in
/// AVX2 registers, without the packed copy of each tile that gemm makes.
mod few_rows {
    /// Rows up to which this kernel is used. At the half shape's head (151,936 × 896, 2 threads)
    /// it took 76, 111 and 192 ms per decode step at 16, 32 and 64 rows, gemm on the same tiles
    /// 92, 135 and 195 ms; beyond 64 rows (not measured) gemm's blocking should win.
    pub const MAX_ROWS: usize = 64;

    pub fn available() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub use x86::tile;

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        /// dst (rows, width; row stride `stride`) = h (rows, d) · w_tileᵀ.
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA; `dst` points to `rows` rows of `stride` f32 with `width`
        /// writable values each.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn tile(h: &[f32], w_tile: &[f32], d: usize, dst: *mut f32, stride: usize) {
            let (rows, width) = (h.len() / d, w_tile.len() / d);
            let mut j = 0;
            while j < width {
                match width - j {
                    1 => rows_block::<1>(h, w_tile, d, j, dst, stride),
                    2 => rows_block::<2>(h, w_tile, d, j, dst, stride),
                    _ => rows_block::<3>(h, w_tile, d, j, dst, stride),
                }
                j += (width - j).min(3);
            }
            debug_assert!(rows * d == h.len());
        }

        /// Head rows j..j + J against every hidden row, 4 rows at a time.
        #[target_feature(enable = "avx2,fma")]
        unsafe fn rows_block<const J: usize>(h: &[f32], w: &[f32], d: usize, j: usize, dst: *mut f32, stride: usize) {
            let rows = h.len() / d;
            let mut r = 0;
            while r < rows {
                match rows - r {
                    1 => block::<1, J>(h, w, d, r, j, dst, stride),
                    2 => block::<2, J>(h, w, d, r, j, dst, stride),
                    3 => block::<3, J>(h, w, d, r, j, dst, stride),
                    _ => block::<4, J>(h, w, d, r, j, dst, stride),
                }
                r += (rows - r).min(4);
            }
        }

        /// dst[r + i][j + c] = h[r + i] · w[j + c] for i < R, c < J.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn block<const R: usize, const J: usize>(
            h: &[f32],
            w: &[f32],
            d: usize,
            r: usize,
            j: usize,
            dst: *mut f32,
            stride: usize,
        ) {
            let (hp, wp) = (h.as_ptr(), w.as_ptr());
            let mut acc = [[_mm256_setzero_ps(); J]; R];
            let lanes = d / 8 * 8;
            let mut k = 0;
            while k < lanes {
                let mut wv = [_mm256_setzero_ps(); J];
                for (c, v) in wv.iter_mut().enumerate() {
                    *v = _mm256_loadu_ps(wp.add((j + c) * d + k));
                }
                for (i, row) in acc.iter_mut().enumerate() {
                    let hv = _mm256_loadu_ps(hp.add((r + i) * d + k));
                    for (a, &v) in row.iter_mut().zip(&wv) {
                        *a = _mm256_fmadd_ps(hv, v, *a);
                    }
                }
                k += 8;
            }
            for (i, row) in acc.iter().enumerate() {
                for (c, &a) in row.iter().enumerate() {
                    let mut sum = horizontal_sum(a);
                    for k in lanes..d {
                        sum += h[(r + i) * d + k] * w[(j + c) * d + k];
                    }
                    *dst.add((r + i) * stride + j + c) = sum;
                }
            }
        }

        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn horizontal_sum(v: __m256) -> f32 {
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
        }
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

    /// Against an f64 product, with a vocabulary that is not a multiple of the tile or of the
    /// dot kernel's 3 head rows, a width that is not a multiple of its 8 lanes, and row counts
    /// on both sides of its limit (each remainder of its 4-row blocks).
    #[test]
    fn matches_the_f64_product() -> Result<()> {
        let (vocab, d) = (3 * TILE + 17, 43);
        let head = random((vocab, d), 1)?;
        for rows in [1, 2, 3, 5, 16, few_rows::MAX_ROWS, few_rows::MAX_ROWS + 1] {
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
