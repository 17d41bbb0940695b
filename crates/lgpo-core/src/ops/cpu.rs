//! Helpers shared by the CPU kernels of the custom ops.

use candle_core::{CpuStorage, Layout, WithDType};

/// The contiguous slice of `storage` described by `layout`, or an error naming the op.
pub(crate) fn contiguous_slice<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    let data = T::cpu_storage_as_slice(storage)?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Calls `$body` with `$t` bound to the element type of a float storage (f32, f64, bf16, f16).
macro_rules! dispatch_float {
    ($storage:expr, $op:expr, |$t:ident| $body:expr) => {
        match $storage {
            candle_core::CpuStorage::F32(_) => {
                type $t = f32;
                $body
            }
            candle_core::CpuStorage::F64(_) => {
                type $t = f64;
                $body
            }
            candle_core::CpuStorage::BF16(_) => {
                type $t = half::bf16;
                $body
            }
            candle_core::CpuStorage::F16(_) => {
                type $t = half::f16;
                $body
            }
            other => candle_core::bail!(
                "{}: unsupported dtype {:?}",
                $op,
                candle_core::backend::BackendStorage::dtype(other)
            ),
        }
    };
}
pub(crate) use dispatch_float;

/// A matrix view for [`matmul`]: element (i, j) is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a, A> {
    pub data: &'a [A],
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, A> MatRef<'a, A> {
    /// `data` as a row-major matrix with `cols` columns.
    pub fn row_major(data: &'a [A], cols: usize) -> Self {
        MatRef { data, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of the row-major matrix `data` with `cols` columns.
    pub fn transposed(data: &'a [A], cols: usize) -> Self {
        MatRef { data, row_stride: 1, col_stride: cols }
    }

    fn check(&self, rows: usize, cols: usize, what: &str) {
        let last = (rows - 1) * self.row_stride + (cols - 1) * self.col_stride;
        assert!(last < self.data.len(), "matmul: {what} ({rows}, {cols}) is out of bounds of {}", self.data.len());
    }
}

/// `dst` (m, n, row-major) = `lhs` (m, k) · `rhs` (k, n), or `dst` += `lhs` · `rhs` when
/// `accumulate`. Single-threaded (the callers parallelise over blocks); f32 or f64.
pub(crate) fn matmul<A: WithDType>(
    dst: &mut [A],
    (m, n, k): (usize, usize, usize),
    lhs: MatRef<'_, A>,
    rhs: MatRef<'_, A>,
    accumulate: bool,
) {
    assert!(dst.len() >= m * n, "matmul: dst has {} elements, ({m}, {n}) needs more", dst.len());
    // SAFETY: `dst` holds the m × n row-major result (checked above) and is borrowed mutably, so
    // nothing else reads or writes it and it aliases neither input.
    unsafe { matmul_strided(dst.as_mut_ptr(), n, (m, n, k), lhs, rhs, accumulate) }
}

/// [`matmul`] into `m` rows of `n` values that lie `dst_row_stride` apart from `dst` on: a column
/// block of a wider row-major matrix, so that threads can write disjoint blocks of one output.
///
/// # Safety
/// `dst` must be valid for reads and writes of those `m` runs of `n` values, which nothing else
/// may access during the call and which must not overlap `lhs` or `rhs`.
pub(crate) unsafe fn matmul_strided<A: WithDType>(
    dst: *mut A,
    dst_row_stride: usize,
    (m, n, k): (usize, usize, usize),
    lhs: MatRef<'_, A>,
    rhs: MatRef<'_, A>,
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                std::slice::from_raw_parts_mut(dst.add(i * dst_row_stride), n).fill(A::zero());
            }
        }
        return;
    }
    lhs.check(m, k, "lhs");
    rhs.check(k, n, "rhs");
    // SAFETY: every index the product reads is within the input slices (checked above), the
    // writes are the caller's runs. gemm supports f32 and f64 (our only accumulation types) and
    // panics on other types instead of misreading them.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row_stride as isize,
        accumulate,
        lhs.data.as_ptr(),
        lhs.col_stride as isize,
        lhs.row_stride as isize,
        rhs.data.as_ptr(),
        rhs.col_stride as isize,
        rhs.row_stride as isize,
        A::one(),
        A::one(),
        false,
        false,
        false,
        gemm::Parallelism::None,
    )
}

/// Independent lanes of [`lane_max`]: partial results the compiler can vectorise.
const MAX_LANES: usize = 8;

/// The largest value of a non-empty slice in vectorisable lanes (NaN is skipped unless it is the
/// first value).
#[inline(always)]
pub(crate) fn lane_max<A: PartialOrd + Copy>(values: &[A]) -> A {
    let mut lanes = [values[0]; MAX_LANES];
    let tiles = values.chunks_exact(MAX_LANES);
    for &v in tiles.remainder() {
        if v > lanes[0] {
            lanes[0] = v;
        }
    }
    for tile in tiles {
        for (m, &v) in lanes.iter_mut().zip(tile) {
            if v > *m {
                *m = v;
            }
        }
    }
    lanes.into_iter().fold(lanes[0], |a, b| if b > a { b } else { a })
}

/// e^x in f32 to about 2 ulp, branch-free so that loops over it vectorise (unlike `f32::exp`, a
/// libm call): x = n ln 2 + r with n = round(x / ln 2) and a Cody–Waite split of ln 2, e^r by
/// Cephes' `expf` polynomial, 2^n from the exponent bits. Returns 0 below −87.3
/// (where e^x is subnormal) and saturates above 88.
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding and subtracting it rounds to an integer
    let clamped = x.clamp(-87.3, 88.0); // NaN stays NaN
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND; // n in the low mantissa bits
    let n = shifted - ROUND;
    let r = clamped - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    // 2^n = bits (n + 127) << 23, n ∈ [−126, 127]. Taken from `shifted`'s mantissa with integer
    // lane ops (the shift drops its exponent and the 1.5 · 2^23), not with `n as i32`, whose
    // saturating conversion does not vectorise.
    let e = e_r * f32::from_bits(shifted.to_bits().wrapping_add(127) << 23);
    if x < -87.3 {
        0.0
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_matches_std_to_a_few_ulp() {
        let mut worst = 0f64;
        for i in -870_000..=880_000 {
            let x = i as f32 * 1e-4;
            let (got, want) = (exp_f32(x) as f64, (x as f64).exp());
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 3e-7, "relative error {worst:e}");
        assert_eq!(exp_f32(-100.0), 0.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }

    #[test]
    fn matmul_matches_a_loop_with_strides() {
        let (m, n, k) = (3, 4, 5);
        let a: Vec<f64> = (0..m * k).map(|i| i as f64 * 0.5 - 3.0).collect();
        let b: Vec<f64> = (0..n * k).map(|i| (i as f64).sin()).collect(); // stored (n, k): used transposed
        let mut c = vec![1.0; m * n];
        matmul(&mut c, (m, n, k), MatRef::row_major(&a, k), MatRef::transposed(&b, k), true);
        for i in 0..m {
            for j in 0..n {
                let want = 1.0 + (0..k).map(|l| a[i * k + l] * b[j * k + l]).sum::<f64>();
                assert!((c[i * n + j] - want).abs() < 1e-12);
            }
        }
    }
}
