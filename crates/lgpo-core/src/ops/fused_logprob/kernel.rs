//! The CPU kernels of the fused log-prob op: per-row online log-sum-exp statistics over
//! vocabulary tiles split among the rayon threads (forward), and the tile-by-tile gradient of
//! the taken token's log-prob (backward). The algorithm is described in the parent module.

use candle_core::WithDType;
use rayon::prelude::*;

use super::Chunks;
use crate::ops::cpu::{exp_f32, lane_max, matmul, MatRef};

/// Accumulation type of the kernels.
pub(super) trait Accum: WithDType + std::ops::Neg<Output = Self> {
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
pub(super) trait Element: WithDType {
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
pub(super) const LANES: usize = 8;

/// Online log-sum-exp state of one row over the head rows seen so far.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowStats<A> {
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
pub(super) fn vocab_ranges(vocab: usize, tile: usize) -> Vec<std::ops::Range<usize>> {
    let tiles = vocab.div_ceil(tile);
    let parts = rayon::current_num_threads().clamp(1, tiles.max(1));
    (0..parts).map(|p| (p * tiles / parts * tile)..((p + 1) * tiles / parts * tile).min(vocab)).collect()
}

/// The logits tile (rows, width) = h_block (rows, d) · W_tileᵀ (d, width).
pub(super) fn logits_tile<A: Accum>(tile: &mut [A], h_block: &[A], w_tile: &[A], d: usize) {
    let (rows, width) = (h_block.len() / d, w_tile.len() / d);
    matmul(tile, (rows, width, d), MatRef::row_major(h_block, d), MatRef::transposed(w_tile, d), false);
}

/// The target's column within the tile starting at head row `start`, if it is there.
pub(super) fn target_column(target: u32, start: usize, width: usize) -> Option<usize> {
    (target as usize).checked_sub(start).filter(|&c| c < width)
}

/// Forward: (N, 3) rows of [log p(target), entropy, lse], and with `keep` the logits in the
/// layout of [`KeptLogits`].
pub(super) fn forward<T: Element<Acc = A>, A: Accum>(
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
pub(super) fn split_runs<A>(mut data: &mut [A], lengths: impl IntoIterator<Item = usize>) -> Vec<&mut [A]> {
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
pub(super) struct KeptLogits<'a, A> {
    pub(super) data: &'a [A],
    pub(super) rows: usize,
    pub(super) vocab: usize,
    pub(super) tokens: usize,
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
pub(super) struct Rows<'a, T, A> {
    pub(super) h: &'a [T],
    pub(super) targets: &'a [u32],
    pub(super) lse: &'a [A],
    pub(super) g: &'a [A],
    pub(super) kept: Option<KeptLogits<'a, A>>,
    pub(super) ids: Option<&'a [usize]>,
}

/// Backward: (dL/dh (N, d), dL/dW (V, d)). Rows with g = 0 (padding, gated or zero-advantage
/// tokens) contribute nothing: only the others are recomputed.
pub(super) fn backward<T: Element<Acc = A>, A: Accum>(
    batch: Rows<T, A>,
    w: &[T],
    d: usize,
    chunks: Chunks,
) -> (Vec<A>, Vec<A>) {
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
pub(super) fn backward_rows<T: Element<Acc = A>, A: Accum>(
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
