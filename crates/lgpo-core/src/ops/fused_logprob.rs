//! Log-prob of the taken token and entropy of the next-token distribution, straight from the
//! final hidden states and the LM head, without materialising the (N, V) logits.
//!
//! For hidden row h_i and head rows W_j the logits are l_ij = h_i · W_j. The kernel walks blocks
//! of [`CHUNK_TOKENS`] rows and, inside a block, tiles of [`CHUNK_VOCAB`] head rows, keeping for
//! each row an online log-sum-exp: the running max m, s = Σ e^(l−m) and w = Σ e^(l−m) (l−m). Then
//!   lse = m + ln s,   log p(t) = l_t − lse,   H = lse − Σ p l = ln s − w / s,
//! the entropy coming from shifted logits, so no two large numbers cancel. The vocabulary tiles
//! are split among the rayon threads, one contiguous range each, and the partial states are
//! merged in a fixed order: results depend on the thread count only.
//!
//! Extra memory is a (CHUNK_TOKENS, CHUNK_VOCAB) logits tile per thread, plus in the backward a
//! (CHUNK_TOKENS, d) partial dL/dh per thread: O(chunk). The backward needs the logits again:
//! when the forward runs for training, without activation checkpointing, and the (N, V) logits
//! take at most [`KEEP_LOGITS_BYTES`], the forward keeps them (keeping costs a write,
//! recomputing a third of the backward's FLOPs); otherwise the backward recomputes them tile by
//! tile, so memory stays O(chunk) for long responses. Either way only the rows with a non-zero
//! gradient are used (padding and gated tokens cost nothing). bf16/f16 inputs are upcast to f32
//! tile by tile; accumulation is f32 (f64 for f64 inputs).

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor, WithDType};
use rayon::prelude::*;

use super::cpu::{contiguous_slice, dispatch_float, exp_f32, lane_max, matmul, MatRef};
use super::grad_sink::GradSink;
use super::has_kernel;
use crate::model::{check_token_stats_inputs, token_stats_naive, TokenStats};
use crate::Result;

/// Hidden rows per block. Every head tile is multiplied with a whole block, so W is streamed
/// from memory N / CHUNK_TOKENS times; 1024 rows make that cheap next to the matmul while the
/// per-thread buffers stay a few MB.
pub const CHUNK_TOKENS: usize = 1024;
/// Head rows per tile: a (1024, 512) f32 logits tile is 2 MB per thread, and 512 columns keep
/// the three tile matmuls (logits, dL/dh, dL/dW) large enough for gemm's full speed.
pub const CHUNK_VOCAB: usize = 512;

/// Hidden rows per block on CUDA: a (4096, 8192) f32 logits tile is 128 MiB, and the products
/// are large enough for cuBLAS's full speed.
pub const CUDA_CHUNK_TOKENS: usize = 4096;
/// Head rows per tile on CUDA.
pub const CUDA_CHUNK_VOCAB: usize = 8192;

/// The largest (N, V) logits, in bytes of the accumulation type, that a training forward keeps
/// for its backward (CPU). 256 MiB holds, at Qwen2.5's vocabulary, the logits of about 440
/// response tokens in f32.
pub const KEEP_LOGITS_BYTES: usize = 256 << 20;

/// Block and tile sizes of the fused kernels (tests use small ones to cover many tiles and
/// ragged edges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunks {
    /// Hidden rows per block.
    pub tokens: usize,
    /// Head rows per tile.
    pub vocab: usize,
}

const DEFAULT_CHUNKS: Chunks = Chunks { tokens: CHUNK_TOKENS, vocab: CHUNK_VOCAB };
const CUDA_CHUNKS: Chunks = Chunks { tokens: CUDA_CHUNK_TOKENS, vocab: CUDA_CHUNK_VOCAB };

impl Chunks {
    /// The default sizes for tensors on `device`.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cuda() {
            CUDA_CHUNKS
        } else {
            DEFAULT_CHUNKS
        }
    }
}

/// Output (N, 3): log p(target), entropy, log-sum-exp (kept for the backward). With a
/// `head_grad` sink the backward adds dL/dW there (in the accumulation type) instead of
/// returning it. With `keep_logits` the CPU forward stores the logits in `kept` (see
/// [`KeptLogits`]) and the backward takes them from there.
struct FusedLogprob {
    chunks: Chunks,
    head_grad: Option<GradSink>,
    keep_logits: bool,
    kept: Mutex<Option<CpuStorage>>,
}

impl FusedLogprob {
    fn new(chunks: Chunks, head_grad: Option<GradSink>, keep_logits: bool) -> Self {
        FusedLogprob { chunks, head_grad, keep_logits, kept: Mutex::new(None) }
    }
}

/// Accumulation type of the kernels.
trait Accum: WithDType + std::ops::Neg<Output = Self> {
    fn exp(self) -> Self;
    fn ln(self) -> Self;
}

impl Accum for f32 {
    #[inline(always)]
    fn exp(self) -> Self {
        exp_f32(self)
    }
    fn ln(self) -> Self {
        f32::ln(self)
    }
}

impl Accum for f64 {
    #[inline(always)]
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
}

/// An input element type and its accumulation type: itself for f32 and f64, f32 for halves.
trait Element: WithDType {
    type Acc: Accum;
    /// `src` as accumulation values: borrowed when the types agree, converted into `buf` if not.
    fn upcast<'a>(src: &'a [Self], buf: &'a mut Vec<Self::Acc>) -> &'a [Self::Acc];
}

impl Element for f32 {
    type Acc = f32;
    fn upcast<'a>(src: &'a [f32], _buf: &'a mut Vec<f32>) -> &'a [f32] {
        src
    }
}

impl Element for f64 {
    type Acc = f64;
    fn upcast<'a>(src: &'a [f64], _buf: &'a mut Vec<f64>) -> &'a [f64] {
        src
    }
}

macro_rules! upcast_half {
    ($($t:ty),*) => {$(
        impl Element for $t {
            type Acc = f32;
            fn upcast<'a>(src: &'a [$t], buf: &'a mut Vec<f32>) -> &'a [f32] {
                buf.clear();
                buf.extend(src.iter().map(|v| v.to_f32()));
                buf
            }
        }
    )*};
}
upcast_half!(half::bf16, half::f16);

/// Lanes of the row loops: independent partial sums that the compiler can vectorise.
const LANES: usize = 8;

/// Online log-sum-exp state of one row over the head rows seen so far.
#[derive(Debug, Clone, Copy)]
struct RowStats<A> {
    /// m, the largest logit seen.
    max: A,
    /// s = Σ e^(l − m).
    sum: A,
    /// w = Σ e^(l − m) (l − m).
    shifted: A,
    /// The target's logit, once its tile has been seen.
    target: Option<A>,
}

impl<A: Accum> RowStats<A> {
    fn empty() -> Self {
        RowStats { max: A::zero(), sum: A::zero(), shifted: A::zero(), target: None }
    }

    /// The state of one tile row of logits; `target` is the target's column if it is in the tile.
    fn of_logits(logits: &[A], target: Option<usize>) -> Self {
        let max = lane_max(logits);
        let (mut sum, mut shifted) = ([A::zero(); LANES], [A::zero(); LANES]);
        let mut add = |lane: usize, l: A| {
            let x = l - max;
            let e = x.exp();
            sum[lane] += e;
            shifted[lane] += e * x;
        };
        let tiles = logits.chunks_exact(LANES);
        for (lane, &l) in tiles.remainder().iter().enumerate() {
            add(lane, l);
        }
        for tile in tiles {
            for (lane, &l) in tile.iter().enumerate() {
                add(lane, l);
            }
        }
        let total = |v: [A; LANES]| v.into_iter().fold(A::zero(), |a, b| a + b);
        RowStats { max, sum: total(sum), shifted: total(shifted), target: target.map(|j| logits[j]) }
    }

    /// The state over the union of the two sets of logits.
    fn merge(self, other: Self) -> Self {
        let target = self.target.or(other.target);
        if other.sum == A::zero() {
            return RowStats { target, ..self };
        }
        if self.sum == A::zero() {
            return RowStats { target, ..other };
        }
        let max = if other.max > self.max { other.max } else { self.max };
        // Σ e^(l − M) (l − M) over one part = e^(m − M) (w + (m − M) s).
        let rescale = |part: &Self| {
            let delta = part.max - max;
            let c = delta.exp();
            (part.sum * c, (part.shifted + delta * part.sum) * c)
        };
        let ((s1, w1), (s2, w2)) = (rescale(&self), rescale(&other));
        RowStats { max, sum: s1 + s2, shifted: w1 + w2, target }
    }

    /// [log p(target), entropy, lse].
    fn finish(self) -> [A; 3] {
        let ln_sum = self.sum.ln();
        let lse = self.max + ln_sum;
        let target = self.target.expect("every target lies in some vocabulary tile");
        [target - lse, ln_sum - self.shifted / self.sum, lse]
    }
}

/// The contiguous vocabulary ranges of the threads: whole tiles, as even as possible.
fn vocab_ranges(vocab: usize, tile: usize) -> Vec<std::ops::Range<usize>> {
    let tiles = vocab.div_ceil(tile);
    let parts = rayon::current_num_threads().clamp(1, tiles.max(1));
    (0..parts).map(|p| (p * tiles / parts * tile)..((p + 1) * tiles / parts * tile).min(vocab)).collect()
}

/// The logits tile (rows, width) = h_block (rows, d) · W_tileᵀ (d, width).
fn logits_tile<A: Accum>(tile: &mut [A], h_block: &[A], w_tile: &[A], d: usize) {
    let (rows, width) = (h_block.len() / d, w_tile.len() / d);
    matmul(tile, (rows, width, d), MatRef::row_major(h_block, d), MatRef::transposed(w_tile, d), false);
}

/// The target's column within the tile starting at head row `start`, if it is there.
fn target_column(target: u32, start: usize, width: usize) -> Option<usize> {
    (target as usize).checked_sub(start).filter(|&c| c < width)
}

/// Forward: (N, 3) rows of [log p(target), entropy, lse], and with `keep` the logits in the
/// layout of [`KeptLogits`].
fn forward<T: Element<Acc = A>, A: Accum>(
    h: &[T],
    w: &[T],
    targets: &[u32],
    d: usize,
    chunks: Chunks,
    keep: bool,
) -> (Vec<A>, Option<Vec<A>>) {
    let v = w.len() / d;
    let ranges = vocab_ranges(v, chunks.vocab);
    let mut out = Vec::with_capacity(targets.len() * 3);
    let mut kept = keep.then(|| vec![A::zero(); targets.len() * v]);
    let mut kept_blocks = kept.as_deref_mut().map(|k| k.chunks_mut(chunks.tokens * v));
    let mut h_buf = Vec::new();
    for (block, block_targets) in h.chunks(chunks.tokens * d).zip(targets.chunks(chunks.tokens)) {
        let h_block = T::upcast(block, &mut h_buf);
        let rows = block_targets.len();
        // Each thread writes the tiles of its vocabulary range into one run of the kept logits.
        let kept_parts: Vec<Option<&mut [A]>> = match kept_blocks.as_mut().and_then(Iterator::next) {
            Some(block_kept) => {
                split_runs(block_kept, ranges.iter().map(|r| r.len() * rows)).into_iter().map(Some).collect()
            }
            None => ranges.iter().map(|_| None).collect(),
        };
        let partials: Vec<Vec<RowStats<A>>> = ranges
            .par_iter()
            .zip(kept_parts.into_par_iter())
            .map(|(range, mut kept_part)| {
                let mut stats = vec![RowStats::empty(); rows];
                let mut local = if kept_part.is_some() { Vec::new() } else { vec![A::zero(); rows * chunks.vocab] };
                let mut w_buf = Vec::new();
                for start in range.clone().step_by(chunks.vocab) {
                    let width = chunks.vocab.min(range.end - start);
                    let tile = match kept_part.as_deref_mut() {
                        Some(part) => &mut part[(start - range.start) * rows..][..rows * width],
                        None => &mut local[..rows * width],
                    };
                    logits_tile(tile, h_block, T::upcast(&w[start * d..(start + width) * d], &mut w_buf), d);
                    for ((row, logits), &t) in stats.iter_mut().zip(tile.chunks(width)).zip(block_targets) {
                        *row = row.merge(RowStats::of_logits(logits, target_column(t, start, width)));
                    }
                }
                stats
            })
            .collect();
        for r in 0..rows {
            out.extend(partials.iter().fold(RowStats::empty(), |acc, part| acc.merge(part[r])).finish());
        }
    }
    (out, kept)
}

/// `data` cut into consecutive runs of the given lengths.
fn split_runs<A>(mut data: &mut [A], lengths: impl IntoIterator<Item = usize>) -> Vec<&mut [A]> {
    lengths
        .into_iter()
        .map(|len| {
            let (run, rest) = std::mem::take(&mut data).split_at_mut(len);
            data = rest;
            run
        })
        .collect()
}

/// The (N, V) logits as the forward keeps them: block by block ([`Chunks::tokens`] rows each),
/// within a block tile by tile in vocabulary order, each tile (rows of the block, width)
/// row-major, so that every thread writes one contiguous run.
#[derive(Clone, Copy)]
struct KeptLogits<'a, A> {
    data: &'a [A],
    rows: usize,
    vocab: usize,
    tokens: usize,
}

impl<'a, A> KeptLogits<'a, A> {
    /// Row `i`'s logits of the tile of `width` head rows starting at `start`.
    fn row(&self, i: usize, start: usize, width: usize) -> &'a [A] {
        let first = i / self.tokens * self.tokens;
        let block_rows = self.tokens.min(self.rows - first);
        let at = first * self.vocab + start * block_rows + (i - first) * width;
        &self.data[at..at + width]
    }
}

/// What the backward reads per row: hidden states (N, d), targets, the saved lse and dL/dlogp,
/// and the logits when the forward kept them (`ids`: each row's index there, if the rows are a
/// selection).
#[derive(Clone, Copy)]
struct Rows<'a, T, A> {
    h: &'a [T],
    targets: &'a [u32],
    lse: &'a [A],
    g: &'a [A],
    kept: Option<KeptLogits<'a, A>>,
    ids: Option<&'a [usize]>,
}

/// Backward: (dL/dh (N, d), dL/dW (V, d)). Rows with g = 0 (padding, gated or zero-advantage
/// tokens) contribute nothing: only the others are recomputed.
fn backward<T: Element<Acc = A>, A: Accum>(batch: Rows<T, A>, w: &[T], d: usize, chunks: Chunks) -> (Vec<A>, Vec<A>) {
    let active: Vec<usize> = (0..batch.targets.len()).filter(|&i| batch.g[i] != A::zero()).collect();
    if active.len() == batch.targets.len() {
        return backward_rows(batch, w, d, chunks);
    }
    let h: Vec<T> = active.iter().flat_map(|&i| &batch.h[i * d..(i + 1) * d]).copied().collect();
    let targets: Vec<u32> = active.iter().map(|&i| batch.targets[i]).collect();
    let pick = |x: &[A]| -> Vec<A> { active.iter().map(|&i| x[i]).collect() };
    let (lse, g) = (pick(batch.lse), pick(batch.g));
    let rows = Rows { h: &h, targets: &targets, lse: &lse, g: &g, kept: batch.kept, ids: Some(&active) };
    let (dh_active, dw) = backward_rows(rows, w, d, chunks);
    let mut dh = vec![A::zero(); batch.h.len()];
    for (&i, row) in active.iter().zip(dh_active.chunks(d)) {
        dh[i * d..(i + 1) * d].copy_from_slice(row);
    }
    (dh, dw)
}

/// [`backward`] over every row.
fn backward_rows<T: Element<Acc = A>, A: Accum>(
    batch: Rows<T, A>,
    w: &[T],
    d: usize,
    chunks: Chunks,
) -> (Vec<A>, Vec<A>) {
    let zero = A::zero();
    let ranges = vocab_ranges(w.len() / d, chunks.vocab);
    let mut dw = vec![zero; w.len()];
    let mut dw_parts = split_runs(&mut dw, ranges.iter().map(|r| r.len() * d));
    let mut dh = Vec::with_capacity(batch.h.len());
    let mut h_buf = Vec::new();
    for (b, block) in batch.h.chunks(chunks.tokens * d).enumerate() {
        let h_block = T::upcast(block, &mut h_buf);
        let (first, rows) = (b * chunks.tokens, h_block.len() / d);
        let (block_targets, lse, g) =
            (&batch.targets[first..first + rows], &batch.lse[first..first + rows], &batch.g[first..first + rows]);
        let partials: Vec<Vec<A>> = ranges
            .par_iter()
            .zip(dw_parts.par_iter_mut())
            .map(|(range, dw_part)| {
                let mut dh_part = vec![zero; rows * d];
                let mut tile = vec![zero; rows * chunks.vocab];
                let mut w_buf = Vec::new();
                for start in range.clone().step_by(chunks.vocab) {
                    let width = chunks.vocab.min(range.end - start);
                    let tile = &mut tile[..rows * width];
                    let w_tile = T::upcast(&w[start * d..(start + width) * d], &mut w_buf);
                    match batch.kept {
                        Some(kept) => {
                            for (r, logits) in tile.chunks_mut(width).enumerate() {
                                let id = batch.ids.map_or(first + r, |ids| ids[first + r]);
                                logits.copy_from_slice(kept.row(id, start, width));
                            }
                        }
                        None => logits_tile(tile, h_block, w_tile, d),
                    }
                    // The tile becomes dL/dl = g (onehot(t) − p), p = e^(l − lse).
                    for (r, logits) in tile.chunks_mut(width).enumerate() {
                        for l in logits.iter_mut() {
                            *l = -(g[r] * (*l - lse[r]).exp());
                        }
                        if let Some(c) = target_column(block_targets[r], start, width) {
                            logits[c] += g[r];
                        }
                    }
                    let offset = (start - range.start) * d;
                    let dw_tile = &mut dw_part[offset..offset + width * d];
                    matmul(
                        dw_tile,
                        (width, d, rows),
                        MatRef::transposed(tile, width),
                        MatRef::row_major(h_block, d),
                        true,
                    );
                    matmul(
                        &mut dh_part,
                        (rows, d, width),
                        MatRef::row_major(tile, width),
                        MatRef::row_major(w_tile, d),
                        true,
                    );
                }
                dh_part
            })
            .collect();
        let start = dh.len();
        dh.extend_from_slice(&partials[0]);
        for part in &partials[1..] {
            for (acc, v) in dh[start..].iter_mut().zip(part) {
                *acc += *v;
            }
        }
    }
    (dh, dw)
}

impl CustomOp3 for FusedLogprob {
    fn name(&self) -> &'static str {
        "lgpo-fused-logprob"
    }

    fn cpu_fwd(
        &self,
        hs: &CpuStorage,
        hl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, d) = hl.shape().dims2()?;
        let targets = contiguous_slice::<u32>(ts, tl, self.name())?;
        dispatch_float!(hs, self.name(), |T| {
            let h = contiguous_slice::<T>(hs, hl, self.name())?;
            let w = contiguous_slice::<T>(ws, wl, self.name())?;
            let (out, kept) = forward::<T, _>(h, w, targets, d, self.chunks, self.keep_logits);
            *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = kept.map(<T as Element>::Acc::to_cpu_storage_owned);
            Ok((<T as Element>::Acc::to_cpu_storage_owned(out), Shape::from((n, 3))))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        hs: &candle_core::CudaStorage,
        hl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
        ts: &candle_core::CudaStorage,
        tl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let n = hl.shape().dims2()?.0;
        let inputs = crate::cuda::fused_logprob::Inputs { hidden: (hs, hl), head: (ws, wl), targets: (ts, tl) };
        let out = crate::cuda::fused_logprob::forward(&inputs, self.chunks.into())?;
        Ok((out, Shape::from((n, 3))))
    }

    /// With p_ij = softmax(l_i)_j, l = h Wᵀ, and g_i = dL/dlogp_i (only the log-prob column
    /// carries gradient; the entropy is detached and the lse is internal):
    ///   dL/dl_ij = g_i (1[j = t_i] − p_ij)
    ///   dL/dh = dL/dl · W,   dL/dW = (dL/dl)ᵀ · h,
    /// with the logits kept by the forward or recomputed tile by tile, and p from the saved lse
    /// (column 2).
    fn bwd(
        &self,
        hidden: &Tensor,
        head: &Tensor,
        targets: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !hidden.device().is_cpu() {
            let (dh, dw) = backward_by_op(hidden, head, targets, res, grad, self.chunks)?;
            return self.gradients(dh.to_dtype(hidden.dtype())?, dw, head);
        }
        let column = |t: &Tensor, c: usize| t.narrow(1, c, 1)?.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>();
        let (lse, g) = (column(res, 2)?, column(grad, 0)?);
        let (n, d) = hidden.dims2()?;
        let v = head.dim(0)?;
        // Taken, not borrowed: the logits are freed with this backward (a second one recomputes).
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (dh, dw) = {
            let ((hs, hl), (ws, wl), (ts, tl)) =
                (hidden.storage_and_layout(), head.storage_and_layout(), targets.storage_and_layout());
            let (Storage::Cpu(hs), Storage::Cpu(ws), Storage::Cpu(ts)) = (&*hs, &*ws, &*ts) else {
                candle_core::bail!("{}: the CPU backward got non-CPU tensors", self.name())
            };
            let targets = contiguous_slice::<u32>(ts, tl, self.name())?;
            dispatch_float!(hs, self.name(), |T| {
                let h = contiguous_slice::<T>(hs, hl, self.name())?;
                let w = contiguous_slice::<T>(ws, wl, self.name())?;
                let acc = |x: &[f64]| x.iter().map(|&v| <T as Element>::Acc::from_f64(v)).collect::<Vec<_>>();
                let (lse, g) = (acc(&lse), acc(&g));
                let kept = match &kept {
                    Some(storage) => Some(KeptLogits {
                        data: <T as Element>::Acc::cpu_storage_as_slice(storage)?,
                        rows: n,
                        vocab: v,
                        tokens: self.chunks.tokens,
                    }),
                    None => None,
                };
                let rows = Rows { h, targets, lse: &lse, g: &g, kept, ids: None };
                let (dh, dw) = backward::<T, _>(rows, w, d, self.chunks);
                (Tensor::from_vec(dh, (n, d), &Device::Cpu)?, Tensor::from_vec(dw, (v, d), &Device::Cpu)?)
            })
        };
        self.gradients(dh.to_dtype(hidden.dtype())?, dw, head)
    }
}

impl FusedLogprob {
    /// The backward's result from dL/dh and dL/dW (the latter in the accumulation type): dL/dW
    /// to the sink when there is one, to candle otherwise.
    #[allow(clippy::type_complexity)]
    fn gradients(
        &self,
        dh: Tensor,
        dw: Tensor,
        head: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        match &self.head_grad {
            Some(sink) => {
                sink.add(dw)?;
                Ok((Some(dh), None, None))
            }
            None => Ok((Some(dh), Some(dw.to_dtype(head.dtype())?), None)),
        }
    }
}

/// The backward of [`FusedLogprob`] as one op over the rows given (the caller drops the rows
/// without gradient): from hidden (n, d), head (V, d), targets (n) and each row's lse and
/// g = dL/dlogp (n, accumulation type) it returns [dL/dh (n, d); dL/dW (V, d)] as one
/// (n + V, d) tensor of the accumulation type. The CUDA backward; on CPU (where the backward
/// calls the kernel directly) it checks the plumbing in tests.
struct FusedLogprobGrad {
    chunks: Chunks,
    lse: Tensor,
    g: Tensor,
}

impl CustomOp3 for FusedLogprobGrad {
    fn name(&self) -> &'static str {
        "lgpo-fused-logprob-grad"
    }

    fn cpu_fwd(
        &self,
        hs: &CpuStorage,
        hl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, d) = hl.shape().dims2()?;
        let v = wl.shape().dims2()?.0;
        let targets = contiguous_slice::<u32>(ts, tl, self.name())?;
        let (lse, g) =
            (self.lse.to_dtype(DType::F64)?.to_vec1::<f64>()?, self.g.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        dispatch_float!(hs, self.name(), |T| {
            let h = contiguous_slice::<T>(hs, hl, self.name())?;
            let w = contiguous_slice::<T>(ws, wl, self.name())?;
            let acc = |x: &[f64]| x.iter().map(|&v| <T as Element>::Acc::from_f64(v)).collect::<Vec<_>>();
            let (lse, g) = (acc(&lse), acc(&g));
            let rows = Rows { h, targets, lse: &lse, g: &g, kept: None, ids: None };
            let (mut out, dw) = backward_rows::<T, _>(rows, w, d, self.chunks);
            out.extend(dw);
            Ok((<T as Element>::Acc::to_cpu_storage_owned(out), Shape::from((n + v, d))))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        hs: &candle_core::CudaStorage,
        hl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
        ts: &candle_core::CudaStorage,
        tl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (n, d) = hl.shape().dims2()?;
        let v = wl.shape().dims2()?.0;
        let inputs = crate::cuda::fused_logprob::Inputs { hidden: (hs, hl), head: (ws, wl), targets: (ts, tl) };
        let (lse, lse_layout) = self.lse.storage_and_layout();
        let (g, g_layout) = self.g.storage_and_layout();
        let (Storage::Cuda(lse), Storage::Cuda(g)) = (&*lse, &*g) else {
            candle_core::bail!("{}: lse and g must be on the CUDA device", self.name())
        };
        let out = crate::cuda::fused_logprob::backward(&inputs, (lse, lse_layout), (g, g_layout), self.chunks.into())?;
        Ok((out, Shape::from((n + v, d))))
    }
}

#[cfg(feature = "cuda")]
impl From<Chunks> for crate::cuda::fused_logprob::Tiles {
    fn from(c: Chunks) -> Self {
        crate::cuda::fused_logprob::Tiles { tokens: c.tokens, vocab: c.vocab }
    }
}

/// dL/dh and dL/dW through [`FusedLogprobGrad`], for the rows with a non-zero gradient only
/// (padding, gated and zero-advantage tokens cost nothing); the other rows of dL/dh are zero.
/// Both come back in the accumulation type.
fn backward_by_op(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    res: &Tensor,
    grad: &Tensor,
    chunks: Chunks,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (n, d) = hidden.dims2()?;
    let v = head.dim(0)?;
    let acc = res.dtype();
    let g = grad.narrow(1, 0, 1)?.flatten_all()?.to_dtype(acc)?;
    let active: Vec<u32> = g
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?
        .iter()
        .enumerate()
        .filter(|(_, &x)| x != 0.0)
        .map(|(i, _)| i as u32)
        .collect();
    if active.is_empty() {
        let zeros = |t: &Tensor| Tensor::zeros(t.shape(), acc, t.device());
        return Ok((zeros(hidden)?, zeros(head)?));
    }
    let index = Tensor::new(active.as_slice(), hidden.device())?;
    let every_row = active.len() == n;
    let pick = |t: &Tensor| -> candle_core::Result<Tensor> {
        if every_row {
            t.contiguous()
        } else {
            t.index_select(&index, 0)?.contiguous()
        }
    };
    let op = FusedLogprobGrad { chunks, lse: pick(&res.narrow(1, 2, 1)?.flatten_all()?)?, g: pick(&g)? };
    let packed = pick(hidden)?.apply_op3_no_bwd(&head.contiguous()?, &pick(targets)?, &op)?; // (m + V, d)
    let m = active.len();
    let dh = packed.narrow(0, 0, m)?;
    let dh = if every_row { dh } else { Tensor::zeros((n, d), acc, hidden.device())?.index_add(&index, &dh, 0)? };
    Ok((dh, packed.narrow(0, m, v)?))
}

/// Log-prob of each target and entropy of each row's next-token distribution for `hidden`
/// (N, d), `head` (V, d) and `targets` (N) u32, without materialising the (N, V) logits.
///
/// The log-probs are differentiable in `hidden` and `head` (a tied head is the embedding
/// matrix, whose gradient then collects both uses); the entropy is a metric and carries no
/// gradient. Both are f32 (f64 for f64 inputs). Kernels on CPU and on CUDA (f32, bf16, f16 with
/// f32 accumulation; cuBLAS tile products); elsewhere this falls back to [`token_stats_naive`],
/// the reference it is tested against.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let hidden = Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &Device::Cpu)?;
/// let head = Tensor::new(&[[0f32, 0.0], [1.0, 2.0], [2.0, 0.0]], &Device::Cpu)?;
/// let targets = Tensor::new(&[2u32, 0], &Device::Cpu)?;
/// let stats = lgpo_core::ops::fused_token_stats(&hidden, &head, &targets)?;
/// // Row 0 has logits [0, 1, 2]: log p(2) = 2 − ln(1 + e + e²).
/// let logprobs: Vec<f32> = stats.logprobs.to_vec1()?;
/// assert!((logprobs[0] - (2.0 - (1.0 + 1f32.exp() + 2f32.exp()).ln())).abs() < 1e-6);
/// # Ok::<(), lgpo_core::Error>(())
/// ```
pub fn fused_token_stats(hidden: &Tensor, head: &Tensor, targets: &Tensor) -> Result<TokenStats> {
    fused_token_stats_chunked(hidden, head, targets, Chunks::for_device(hidden.device()))
}

/// [`fused_token_stats`] with explicit block and tile sizes (the results do not depend on them
/// beyond rounding; small ones exercise many tiles and ragged edges in checks).
pub fn fused_token_stats_chunked(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    chunks: Chunks,
) -> Result<TokenStats> {
    fused_stats(hidden, head, targets, chunks, None, true)
}

/// [`fused_token_stats`] whose backward adds the head's gradient dL/dW to `head_grad` (f32; f64
/// for f64 inputs) instead of returning it to candle's `GradStore`, which would zero-fill and
/// add a buffer of the head's size (see [`GradSink`]). Where the kernel does not run (the
/// fallback to [`token_stats_naive`]) the gradient goes to the store as usual, so a caller
/// collects the head's gradient from both. Without `keep_logits` the forward never keeps the
/// logits for the backward, whatever their size (activation checkpointing's choice).
pub fn fused_token_stats_with_sink(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    head_grad: &GradSink,
    keep_logits: bool,
) -> Result<TokenStats> {
    let chunks = Chunks::for_device(hidden.device());
    fused_stats(hidden, head, targets, chunks, Some(head_grad.clone()), keep_logits)
}

fn fused_stats(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    chunks: Chunks,
    head_grad: Option<GradSink>,
    may_keep_logits: bool,
) -> Result<TokenStats> {
    check_token_stats_inputs(hidden, head, targets)?;
    if chunks.tokens == 0 || chunks.vocab == 0 {
        crate::bail_input!("fused_token_stats: chunk sizes must be positive, got {chunks:?}");
    }
    if !has_kernel(hidden) {
        return token_stats_naive(hidden, head, targets);
    }
    let op = FusedLogprob::new(chunks, head_grad, may_keep_logits && keeps_logits(hidden, head));
    let out = hidden.contiguous()?.apply_op3(&head.contiguous()?, &targets.contiguous()?, op)?;
    Ok(TokenStats { logprobs: out.narrow(1, 0, 1)?.squeeze(1)?, entropy: out.narrow(1, 1, 1)?.squeeze(1)?.detach() })
}

/// Whether the forward keeps the logits for the backward: on CPU, when a backward can follow
/// (an input is part of a graph) and they take at most [`KEEP_LOGITS_BYTES`].
fn keeps_logits(hidden: &Tensor, head: &Tensor) -> bool {
    let acc_bytes = if hidden.dtype() == DType::F64 { 8 } else { 4 };
    let bytes = hidden.dim(0).unwrap_or(0) * head.dim(0).unwrap_or(0) * acc_bytes;
    hidden.device().is_cpu() && (hidden.track_op() || head.track_op()) && bytes <= KEEP_LOGITS_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{assert_close, finite_difference_grad, random_tensor};
    use candle_core::Var;

    /// Small tiles so that a few dozen rows span several blocks, tiles and threads, with N and V
    /// multiples of neither.
    const SMALL: Chunks = Chunks { tokens: 4, vocab: 8 };

    fn random_targets(n: usize, v: usize, seed: u64) -> Result<Tensor> {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let ids: Vec<u32> = (0..n).map(|_| (rng.next_u64() % v as u64) as u32).collect();
        Ok(Tensor::new(ids, &Device::Cpu)?)
    }

    /// The log-probs through the op, its forward keeping the logits for the backward or not.
    fn logprobs_keeping(
        hidden: &Tensor,
        head: &Tensor,
        targets: &Tensor,
        chunks: Chunks,
        keep: bool,
    ) -> Result<Tensor> {
        let out = hidden.apply_op3(head, targets, FusedLogprob::new(chunks, None, keep))?;
        Ok(out.narrow(1, 0, 1)?.squeeze(1)?)
    }

    /// Forward values and the gradients of Σ probe · logp through both paths, the backward with
    /// the logits kept by the forward and recomputed.
    fn compare_with_naive(n: usize, d: usize, v: usize, chunks: Chunks) -> Result<()> {
        let hidden = Var::from_tensor(&random_tensor(&[n, d], 1, DType::F32)?)?;
        let head = Var::from_tensor(&random_tensor(&[v, d], 2, DType::F32)?)?;
        let targets = random_targets(n, v, 3)?;
        // Every third row without gradient (padding): the backward skips those rows.
        let mask: Vec<f32> = (0..n).map(|i| if i % 3 == 1 { 0.0 } else { 1.0 }).collect();
        let probe = (random_tensor(&[n], 4, DType::F32)? * Tensor::new(mask, &Device::Cpu)?)?;
        let fused = fused_token_stats_chunked(&hidden, &head, &targets, chunks)?;
        let naive = token_stats_naive(&hidden, &head, &targets)?;
        assert_close(&fused.logprobs, &naive.logprobs, 1e-5, "log-probs");
        assert_close(&fused.entropy, &naive.entropy, 1e-5, "entropy");
        let naive_grads = (naive.logprobs * &probe)?.sum_all()?.backward()?;
        for keep in [true, false] {
            let logprobs = logprobs_keeping(&hidden, &head, &targets, chunks, keep)?;
            let fused_grads = (logprobs * &probe)?.sum_all()?.backward()?;
            for (name, var) in [("dL/dh", &hidden), ("dL/dW", &head)] {
                let got = fused_grads.get(var).expect("fused gradient");
                assert!(got.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0, "{name} is zero (keep {keep})");
                assert_close(got, naive_grads.get(var).expect("naive gradient"), 1e-5, name);
            }
        }
        Ok(())
    }

    /// The forward keeps the logits only where a backward can follow and they fit the budget.
    #[test]
    fn keeps_logits_for_training_within_the_budget() -> Result<()> {
        let (hidden, head) = (random_tensor(&[4, 8], 1, DType::F32)?, random_tensor(&[16, 8], 2, DType::F32)?);
        let tracked = Var::from_tensor(&hidden)?;
        assert!(!keeps_logits(&hidden, &head), "no graph, nothing to keep");
        assert!(keeps_logits(&tracked, &head) && keeps_logits(&hidden, Var::from_tensor(&head)?.as_tensor()));
        let rows = KEEP_LOGITS_BYTES / (4 * 16) + 1;
        let long = Var::from_tensor(&Tensor::zeros((rows, 8), DType::F32, &Device::Cpu)?)?;
        assert!(!keeps_logits(&long, &head), "over the budget: recomputed");
        Ok(())
    }

    #[test]
    fn matches_naive_path_on_ragged_tiles() -> Result<()> {
        compare_with_naive(37, 16, 101, SMALL)
    }

    #[test]
    fn matches_naive_path_with_default_chunks() -> Result<()> {
        compare_with_naive(CHUNK_TOKENS + 3, 24, 2 * CHUNK_VOCAB + 5, DEFAULT_CHUNKS)
    }

    /// A vocabulary smaller than one tile (one thread's range, one partial tile).
    #[test]
    fn matches_naive_path_below_one_tile() -> Result<()> {
        compare_with_naive(3, 5, 6, DEFAULT_CHUNKS)
    }

    /// A tied head: the hidden states come from the embedding too, so dL/dW collects the
    /// head's gradient and the one through the hidden states.
    #[test]
    fn tied_head_gradient_matches_naive_path() -> Result<()> {
        let (n, d, v) = (13, 8, 30);
        let embedding = Var::from_tensor(&random_tensor(&[v, d], 20, DType::F32)?)?;
        let inputs = random_targets(n, v, 21)?;
        let targets = random_targets(n, v, 22)?;
        let grad = |path: fn(&Tensor, &Tensor, &Tensor) -> Result<TokenStats>| -> Result<Tensor> {
            let hidden = (embedding.embedding(&inputs)?.tanh()? * 3.0)?;
            let loss = path(&hidden, &embedding, &targets)?.logprobs.sum_all()?;
            Ok(loss.backward()?.get(&embedding).expect("embedding gradient").clone())
        };
        let fused = |h: &Tensor, w: &Tensor, t: &Tensor| fused_token_stats_chunked(h, w, t, SMALL);
        assert_close(&grad(fused)?, &grad(token_stats_naive)?, 1e-5, "tied dL/dW");
        Ok(())
    }

    /// The backward through the packed-output op (the CUDA route) drops the rows without
    /// gradient and scatters dL/dh back: the same gradients as the naive path.
    #[test]
    fn backward_by_op_matches_naive_path() -> Result<()> {
        let (n, d, v) = (23, 12, 41);
        let hidden = random_tensor(&[n, d], 30, DType::F32)?;
        let head = random_tensor(&[v, d], 31, DType::F32)?;
        let targets = random_targets(n, v, 32)?;
        let out = hidden.apply_op3_no_bwd(&head, &targets, &FusedLogprob::new(SMALL, None, false))?;
        let (h, w) = (Var::from_tensor(&hidden)?, Var::from_tensor(&head)?);
        for mask in [vec![1f32; n], (0..n).map(|i| (i % 4 == 1) as u8 as f32).collect(), vec![0f32; n]] {
            let probe = (random_tensor(&[n], 33, DType::F32)? * Tensor::new(mask, &Device::Cpu)?)?;
            let grad = Tensor::stack(&[&probe, &probe.zeros_like()?, &probe.zeros_like()?], 1)?; // (n, 3)
            let (dh, dw) = backward_by_op(&hidden, &head, &targets, &out, &grad, SMALL)?;
            let naive = (token_stats_naive(&h, &w, &targets)?.logprobs * &probe)?.sum_all()?.backward()?;
            assert_close(&dh, naive.get(&h).expect("naive dL/dh"), 1e-5, "dL/dh by op");
            assert_close(&dw, naive.get(&w).expect("naive dL/dW"), 1e-5, "dL/dW by op");
        }
        Ok(())
    }

    #[test]
    fn backward_matches_finite_differences() -> Result<()> {
        let hidden = Var::from_tensor(&random_tensor(&[7, 5], 5, DType::F64)?)?;
        let head = Var::from_tensor(&random_tensor(&[11, 5], 6, DType::F64)?)?;
        let targets = random_targets(7, 11, 7)?;
        let probe = random_tensor(&[7], 8, DType::F64)?;
        let loss = |h: &Tensor, w: &Tensor| -> Result<Tensor> {
            Ok((fused_token_stats_chunked(h, w, &targets, Chunks { tokens: 3, vocab: 4 })?.logprobs * &probe)?
                .sum_all()?)
        };
        let grads = loss(&hidden, &head)?.backward()?;
        let fd_h = finite_difference_grad(&hidden, |h| loss(h, &head))?;
        let fd_w = finite_difference_grad(&head, |w| loss(&hidden, w))?;
        assert_close(grads.get(&hidden).expect("grad of hidden"), &fd_h, 1e-7, "fused dL/dh");
        assert_close(grads.get(&head).expect("grad of head"), &fd_w, 1e-7, "fused dL/dW");
        Ok(())
    }

    /// Logits up to ±1e4 with near-ties (head rows in close pairs, half the targets the argmax):
    /// nothing overflows and the f32 kernel is as close to the naive path in f64 as f32 logits
    /// allow (1e4 · 2^-24 ≈ 1e-3 rounding per logit).
    #[test]
    fn extreme_logits_match_naive_f64() -> Result<()> {
        let (n, d, pairs) = (29, 16, 27);
        let base = random_tensor(&[pairs, d], 10, DType::F64)?;
        let head = Tensor::cat(&[&base, &(&base + (random_tensor(&[pairs, d], 11, DType::F64)? * 1e-3)?)?], 0)?;
        let hidden = random_tensor(&[n, d], 9, DType::F64)?;
        let scale = 1e4 / hidden.matmul(&head.t()?)?.abs()?.max_all()?.to_scalar::<f64>()?;
        let (hidden, head) = ((hidden * scale)?.to_dtype(DType::F32)?, head.to_dtype(DType::F32)?);
        let (h64, w64) = (hidden.to_dtype(DType::F64)?, head.to_dtype(DType::F64)?);
        let argmax: Vec<u32> = h64.matmul(&w64.t()?)?.argmax(1)?.to_vec1()?;
        let random: Vec<u32> = random_targets(n, 2 * pairs, 12)?.to_vec1()?;
        let targets: Vec<u32> = (0..n).map(|i| if i % 2 == 0 { argmax[i] } else { random[i] }).collect();
        let targets = Tensor::new(targets, &Device::Cpu)?;
        let fused = fused_token_stats_chunked(&hidden, &head, &targets, SMALL)?;
        let exact = token_stats_naive(&h64, &w64, &targets)?;
        for (got, want, what) in
            [(&fused.logprobs, &exact.logprobs, "log-probs"), (&fused.entropy, &exact.entropy, "entropy")]
        {
            let (got, want): (Vec<f32>, Vec<f64>) = (got.to_vec1()?, want.to_vec1()?);
            let err = got.iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(got.iter().all(|x| x.is_finite()) && err < 2e-3, "{what}: max abs error {err:e}");
        }
        Ok(())
    }

    #[test]
    fn half_inputs_are_upcast_per_tile() -> Result<()> {
        let hidden = random_tensor(&[9, 8], 12, DType::BF16)?;
        let head = random_tensor(&[21, 8], 13, DType::BF16)?;
        let targets = random_targets(9, 21, 14)?;
        let fused = fused_token_stats_chunked(&hidden, &head, &targets, SMALL)?;
        let exact = token_stats_naive(&hidden.to_dtype(DType::F32)?, &head.to_dtype(DType::F32)?, &targets)?;
        assert_eq!(fused.logprobs.dtype(), DType::F32);
        assert_close(&fused.logprobs, &exact.logprobs, 1e-5, "bf16 log-probs");
        assert_close(&fused.entropy, &exact.entropy, 1e-5, "bf16 entropy");
        Ok(())
    }

    #[test]
    fn entropy_carries_no_gradient() -> Result<()> {
        let hidden = Var::from_tensor(&random_tensor(&[3, 4], 15, DType::F32)?)?;
        let head = Var::from_tensor(&random_tensor(&[5, 4], 16, DType::F32)?)?;
        let stats = fused_token_stats(&hidden, &head, &random_targets(3, 5, 17)?)?;
        let grads = stats.entropy.sum_all()?.backward()?;
        assert!(grads.get(&hidden).is_none() && grads.get(&head).is_none());
        Ok(())
    }

    #[test]
    fn rejects_bad_inputs() {
        let hidden = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
        let head = Tensor::zeros((5, 4), DType::F32, &Device::Cpu).unwrap();
        let cases = [
            (Tensor::zeros((5, 3), DType::F32, &Device::Cpu).unwrap(), Tensor::new(&[0u32, 1], &Device::Cpu).unwrap()),
            (head.clone(), Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap()),
            (head.clone(), Tensor::new(&[0u32, 5], &Device::Cpu).unwrap()),
            (head.clone(), Tensor::new(&[0i64, 1], &Device::Cpu).unwrap()),
            (head.to_dtype(DType::F64).unwrap(), Tensor::new(&[0u32, 1], &Device::Cpu).unwrap()),
        ];
        for (head, targets) in cases {
            let err = fused_token_stats(&hidden, &head, &targets).unwrap_err().to_string();
            assert!(err.contains("token_stats"), "{err}");
        }
    }
}
