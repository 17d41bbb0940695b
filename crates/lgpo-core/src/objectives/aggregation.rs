//! Loss aggregation: how per-token losses of a minibatch become one scalar.
//!
//! Every mode is a weighted sum of token losses whose weights depend only on minibatch-level
//! counts ([`Normalizer`]), so a minibatch split into micro-batches gives exactly the same
//! gradient as one pass, and sequences whose loss is zero (A = 0, gated) can be skipped without
//! changing the update.

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Aggregation mode (the names of verl's `agg_loss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregation {
    /// Σ_it L_it / (response tokens in the minibatch), gated and zero-advantage tokens included
    /// in the denominator (DAPO's token-level loss; the default).
    #[default]
    #[serde(rename = "token-mean")]
    TokenMean,
    /// (1 / sequences in the minibatch) Σ_i (1 / |y_i|) Σ_t L_it (GRPO paper, GSPO).
    #[serde(rename = "seq-mean-token-mean")]
    SeqMeanTokenMean,
    /// (1 / sequences in the minibatch) Σ_i Σ_t L_it (Dr. GRPO without the constant).
    #[serde(rename = "seq-mean-token-sum")]
    SeqMeanTokenSum,
    /// Σ_it L_it.
    #[serde(rename = "sum")]
    Sum,
}

/// Minibatch-level counts that fix the aggregation weights across micro-batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalizer {
    /// Response tokens in the whole minibatch.
    pub tokens: f64,
    /// Sequences in the whole minibatch.
    pub sequences: f64,
}

impl Normalizer {
    /// Counts of a minibatch from its response lengths.
    pub fn from_lengths(lengths: impl IntoIterator<Item = usize>) -> Self {
        let (mut tokens, mut sequences) = (0.0, 0.0);
        for len in lengths {
            tokens += len as f64;
            sequences += 1.0;
        }
        Normalizer { tokens, sequences }
    }
}

/// Aggregates per-token losses `loss` (B, R) under `mask` (B, R) into a scalar.
pub fn aggregate(loss: &Tensor, mask: &Tensor, mode: Aggregation, norm: Normalizer) -> Result<Tensor> {
    let masked = (loss * mask)?;
    let total = match mode {
        Aggregation::TokenMean => (masked.sum_all()? / norm.tokens.max(1.0))?,
        Aggregation::SeqMeanTokenMean => {
            let lengths = mask.sum(D::Minus1)?.clamp(1.0, f64::INFINITY)?;
            (masked.sum(D::Minus1)?.div(&lengths)?.sum_all()? / norm.sequences.max(1.0))?
        }
        Aggregation::SeqMeanTokenSum => (masked.sum_all()? / norm.sequences.max(1.0))?,
        Aggregation::Sum => masked.sum_all()?,
    };
    Ok(total)
}
