//! The data of one optimizer step and of one rollout batch.

use candle_core::{Device, Tensor};

use crate::model::Sequence;
use crate::{bail_input, Result};

/// One optimizer step's sequences, with one advantage each and, when the objective needs them,
/// per-token old-policy and reference log-probs (rows as long as the responses).
#[derive(Debug, Clone, Default)]
pub struct Minibatch {
    pub sequences: Vec<Sequence>,
    pub advantages: Vec<f32>,
    pub old_logprobs: Option<Vec<Vec<f32>>>,
    pub ref_logprobs: Option<Vec<Vec<f32>>>,
    /// The old policy is the current one (the first minibatch of a rollout batch): old log-probs
    /// are this step's own forward, detached, so ratios are exactly 1 and no separate pass runs.
    pub old_is_current: bool,
    /// Per response token: forced by the task's format (Countdown's answer tags), so left out of
    /// each sequence's mean log-likelihood ℓ̄, the statistic LGPO's gate thresholds. `None`:
    /// every response token counts.
    pub forced_tokens: Option<Vec<Vec<bool>>>,
}

impl Minibatch {
    /// Checks that every per-sequence field lines up with `sequences` (names the bad one).
    pub fn validate(&self) -> Result<()> {
        if self.sequences.is_empty() {
            bail_input!("minibatch: no sequences");
        }
        self.validate_rows()
    }

    /// [`Minibatch::validate`] for a data-parallel rank's share, which may be empty (a minibatch
    /// of fewer groups than ranks, or of uneven shares): the rank still takes part in the step's
    /// collectives.
    pub fn validate_share(&self) -> Result<()> {
        self.validate_rows()
    }

    fn validate_rows(&self) -> Result<()> {
        let n = self.sequences.len();
        if self.advantages.len() != n {
            bail_input!("minibatch.advantages has {} values for {n} sequences", self.advantages.len());
        }
        if let Some(i) = self.advantages.iter().position(|a| !a.is_finite()) {
            bail_input!("minibatch.advantages[{i}] is not finite");
        }
        if self.old_is_current && self.old_logprobs.is_some() {
            bail_input!("minibatch: give old_logprobs or old_is_current, not both");
        }
        let forced_lengths = self.forced_tokens.as_ref().map(|rows| rows.iter().map(Vec::len).collect::<Vec<_>>());
        for (name, lengths) in [
            ("old_logprobs", self.old_logprobs.as_ref().map(|r| r.iter().map(Vec::len).collect::<Vec<_>>())),
            ("ref_logprobs", self.ref_logprobs.as_ref().map(|r| r.iter().map(Vec::len).collect())),
            ("forced_tokens", forced_lengths),
        ] {
            let Some(rows) = lengths else { continue };
            if rows.len() != n {
                bail_input!("minibatch.{name} has {} rows for {n} sequences", rows.len());
            }
            for (i, (&len, seq)) in rows.iter().zip(&self.sequences).enumerate() {
                if len != seq.response.len() {
                    bail_input!("minibatch.{name}[{i}] has {len} values for {} response tokens", seq.response.len());
                }
            }
        }
        Ok(())
    }

    /// Rank `rank`'s share of the minibatch among `size` data-parallel ranks: a consecutive slice,
    /// in rank order (what [`super::Policy::set_communicator`] expects). The sequences must split
    /// evenly.
    pub fn shard(&self, rank: usize, size: usize) -> crate::Result<Minibatch> {
        let n = self.sequences.len();
        if size == 0 || rank >= size || !n.is_multiple_of(size) {
            crate::bail_input!("minibatch shard: {n} sequences do not split evenly into rank {rank} of {size}");
        }
        let per = n / size;
        Ok(self.select(&(rank * per..(rank + 1) * per).collect::<Vec<_>>()))
    }

    /// The sequences at `indices`, all fields kept in step.
    pub fn select(&self, indices: &[usize]) -> Minibatch {
        let pick =
            |rows: &Option<Vec<Vec<f32>>>| rows.as_ref().map(|r| indices.iter().map(|&i| r[i].clone()).collect());
        Minibatch {
            sequences: indices.iter().map(|&i| self.sequences[i].clone()).collect(),
            advantages: indices.iter().map(|&i| self.advantages[i]).collect(),
            old_logprobs: pick(&self.old_logprobs),
            ref_logprobs: pick(&self.ref_logprobs),
            old_is_current: self.old_is_current,
            forced_tokens: self.forced_tokens.as_ref().map(|r| indices.iter().map(|&i| r[i].clone()).collect()),
        }
    }
}

/// A rollout batch: the sequences generated from one batch of prompts, with their advantages,
/// split into minibatches for `updates` optimizer steps.
#[derive(Debug, Clone, Default)]
pub struct Rollout {
    pub sequences: Vec<Sequence>,
    pub advantages: Vec<f32>,
    /// The sampling log-probs of generation, usable as old log-probs
    /// ([`crate::policy::OldLogprobSource::Generation`]).
    pub generation_logprobs: Option<Vec<Vec<f32>>>,
    pub ref_logprobs: Option<Vec<Vec<f32>>>,
}

/// Rows of different lengths as a (B, width) tensor, zero-padded on the right.
pub(crate) fn padded_rows(rows: &[Vec<f32>], width: usize, device: &Device) -> Result<Tensor> {
    let mut flat = vec![0f32; rows.len() * width];
    for (i, row) in rows.iter().enumerate() {
        flat[i * width..i * width + row.len()].copy_from_slice(row);
    }
    Ok(Tensor::from_vec(flat, (rows.len(), width), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_minibatch_is_refused_but_an_empty_rank_share_is_not() {
        let empty = Minibatch::default();
        assert!(empty.validate().unwrap_err().to_string().contains("no sequences"));
        empty.validate_share().unwrap();
        // A share is still checked row by row.
        let bad = Minibatch { advantages: vec![1.0], ..Minibatch::default() };
        assert!(bad.validate_share().unwrap_err().to_string().contains("minibatch.advantages has 1 values for 0"));
    }
}
