//! A training step across ranks: what [`super::Policy::gradients`] sums over the ranks so that N
//! ranks with B/N sequences each take the optimizer step one process takes on B sequences.
//!
//! - the loss denominators (tokens and sequences of the whole minibatch) are summed before any
//!   loss is computed, so each rank's loss is its share of the global mean;
//! - the gradients, summed over micro-batches on each rank, are summed over the ranks (one f32
//!   bucket of every parameter: one all-reduce per optimizer step);
//! - the objective's statistics are summed (minimum and maximum for the ratio's extremes).
//!
//! The random gates index their streams by a sequence's position among the evaluated sequences of
//! the whole minibatch, so each rank offsets its positions by the ranks before it: the stochastic
//! gate (one stream per sequence) then gates exactly what one process gates. The random gate
//! shuffles within a micro-batch, so it does so only where each rank's evaluated sequences fill
//! whole micro-batches (otherwise the ranks' micro-batches are cut elsewhere than one process's,
//! and the same rate is drawn over other groups). Ranks hold consecutive slices of the minibatch,
//! in rank order.

use candle_core::Tensor;

use crate::comm::{offset_and_total, Communicator, ReduceOp};
use crate::objectives::{Normalizer, ObjectiveStats, RatioStats};
use crate::Result;

/// `local`'s counts summed over the ranks.
pub(super) fn global_normalizer(comm: &dyn Communicator, local: Normalizer) -> Result<Normalizer> {
    let mut counts = [local.tokens, local.sequences];
    comm.all_reduce_f64(&mut counts, ReduceOp::Sum)?;
    Ok(Normalizer { tokens: counts[0], sequences: counts[1] })
}

/// Where this rank's evaluated sequences start among the whole minibatch's.
pub(super) fn first_evaluated(comm: &dyn Communicator, evaluated: usize) -> Result<usize> {
    Ok(offset_and_total(comm, evaluated)?.0)
}

/// The gradients summed over the ranks, in one bucket.
pub(super) fn reduce_gradients(comm: &dyn Communicator, grads: Vec<Tensor>) -> Result<Vec<Tensor>> {
    let flat = grads.iter().map(Tensor::flatten_all).collect::<candle_core::Result<Vec<_>>>()?;
    let bucket = comm.all_reduce_sum_tensor(&Tensor::cat(&flat, 0)?)?;
    let mut at = 0;
    grads
        .iter()
        .map(|g| {
            let n = g.elem_count();
            let summed = bucket.narrow(0, at, n)?.reshape(g.shape())?;
            at += n;
            Ok(summed)
        })
        .collect()
}

/// `stats` summed over the ranks (the ratio's minimum and maximum taken over them).
pub(super) fn reduce_stats(comm: &dyn Communicator, stats: &ObjectiveStats) -> Result<ObjectiveStats> {
    let ratio = stats.ratio.unwrap_or(RatioStats { sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, kl_sum: 0.0 });
    let mut sums = [
        stats.loss,
        stats.sequences,
        stats.gated,
        stats.zero_advantage,
        stats.kept_nonzero_advantage,
        stats.tokens,
        stats.clipped_low_tokens,
        stats.clipped_high_tokens,
        stats.logprob_sum,
        stats.entropy_sum.unwrap_or(0.0),
        if stats.entropy_sum.is_some() { 1.0 } else { 0.0 },
        ratio.sum,
        ratio.kl_sum,
        if stats.ratio.is_some() { 1.0 } else { 0.0 },
    ];
    comm.all_reduce_f64(&mut sums, ReduceOp::Sum)?;
    let (mut min, mut max) = ([ratio.min], [ratio.max]);
    comm.all_reduce_f64(&mut min, ReduceOp::Min)?;
    comm.all_reduce_f64(&mut max, ReduceOp::Max)?;
    Ok(ObjectiveStats {
        loss: sums[0],
        sequences: sums[1],
        gated: sums[2],
        zero_advantage: sums[3],
        kept_nonzero_advantage: sums[4],
        tokens: sums[5],
        clipped_low_tokens: sums[6],
        clipped_high_tokens: sums[7],
        logprob_sum: sums[8],
        entropy_sum: (sums[10] > 0.0).then_some(sums[9]),
        ratio: (sums[13] > 0.0).then_some(RatioStats { sum: sums[11], min: min[0], max: max[0], kl_sum: sums[12] }),
    })
}
