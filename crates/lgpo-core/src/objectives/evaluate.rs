//! The objectives as a pure function of per-token log-probs: loss, dL/dlogp and metrics. What
//! the SDK exposes as `objectives.evaluate`, and how each objective is tested against its
//! closed form.

use candle_core::{Device, Tensor, Var};

use super::aggregation::Normalizer;
use super::config::ObjectiveConfig;
use super::stats::Metrics;
use super::{counted_tokens, Objective, ObjectiveInputs};
use crate::{bail_input, Result};

/// Per-sequence inputs; every row of the optional fields has the length of its `logprobs` row.
#[derive(Debug, Clone, Copy)]
pub struct EvaluationInputs<'a> {
    /// log π_θ of each response token, one row per sequence.
    pub logprobs: &'a [Vec<f32>],
    pub old_logprobs: Option<&'a [Vec<f32>]>,
    pub ref_logprobs: Option<&'a [Vec<f32>]>,
    /// Entropies, for metrics; the entropy bonus's gradient flows through the model, not
    /// through the log-probs, so it is not part of dL/dlogp.
    pub entropy: Option<&'a [Vec<f32>]>,
    /// One advantage per sequence.
    pub advantages: &'a [f32],
    /// Per token: forced by the task's format, so left out of ℓ̄ (the gate's statistic).
    pub forced_tokens: Option<&'a [Vec<bool>]>,
    /// Seed of the random gates.
    pub seed: u64,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    /// dL/dlogp for every token, rows as in the input.
    pub grad_logprobs: Vec<Vec<f32>>,
    pub metrics: Metrics,
}

fn padded(rows: &[Vec<f32>], width: usize, name: &str, lengths: &[usize]) -> Result<Tensor> {
    if rows.len() != lengths.len() {
        bail_input!("{name} has {} rows, logprobs has {}", rows.len(), lengths.len());
    }
    let mut flat = vec![0f32; rows.len() * width];
    for (i, (row, &len)) in rows.iter().zip(lengths).enumerate() {
        if row.len() != len {
            bail_input!("{name}[{i}] has {} tokens, logprobs[{i}] has {len}", row.len());
        }
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            bail_input!("{name}[{i}][{j}] is not finite");
        }
        flat[i * width..i * width + len].copy_from_slice(row);
    }
    Ok(Tensor::from_vec(flat, (rows.len(), width), &Device::Cpu)?)
}

/// Evaluates the objective of `config` on one minibatch given as per-token log-probs.
pub fn evaluate(config: &ObjectiveConfig, inputs: &EvaluationInputs) -> Result<Evaluation> {
    let objective = Objective::from_config(config)?;
    let lengths: Vec<usize> = inputs.logprobs.iter().map(Vec::len).collect();
    if lengths.is_empty() {
        bail_input!("logprobs: no sequences");
    }
    if inputs.advantages.len() != lengths.len() {
        bail_input!("advantages has {} values for {} sequences", inputs.advantages.len(), lengths.len());
    }
    if let Some(i) = inputs.advantages.iter().position(|a| !a.is_finite()) {
        bail_input!("advantages[{i}] is not finite");
    }
    let width = lengths.iter().copied().max().unwrap_or(0).max(1);
    let logprobs = Var::from_tensor(&padded(inputs.logprobs, width, "logprobs", &lengths)?)?;
    let optional = |rows: Option<&[Vec<f32>]>, name| rows.map(|r| padded(r, width, name, &lengths)).transpose();
    let old = optional(inputs.old_logprobs, "old_logprobs")?;
    let reference = optional(inputs.ref_logprobs, "ref_logprobs")?;
    let entropy = optional(inputs.entropy, "entropy")?;
    let mask_rows: Vec<Vec<f32>> = lengths.iter().map(|&n| vec![1.0; n]).collect();
    let mask = padded(&mask_rows, width, "mask", &lengths)?;
    let statistic_mask =
        inputs.forced_tokens.map(|rows| padded(&counted_tokens(rows), width, "forced_tokens", &lengths)).transpose()?;
    let advantages = Tensor::new(inputs.advantages, &Device::Cpu)?;

    let output = objective.loss(&ObjectiveInputs {
        logprobs: logprobs.as_tensor(),
        old_logprobs: old.as_ref(),
        ref_logprobs: reference.as_ref(),
        entropy: entropy.as_ref(),
        advantages: &advantages,
        mask: &mask,
        statistic_mask: statistic_mask.as_ref(),
        norm: Normalizer::from_lengths(lengths.iter().copied()),
        seed: inputs.seed,
        first_sequence: 0,
    })?;
    let grads = output.loss.backward()?;
    let grad = match grads.get(logprobs.as_tensor()) {
        Some(g) => g.to_vec2::<f32>()?,
        None => vec![vec![0.0; width]; lengths.len()], // e.g. every sequence gated
    };
    let grad_logprobs = grad.into_iter().zip(&lengths).map(|(mut row, &n)| {
        row.truncate(n);
        row
    });
    Ok(Evaluation { loss: output.stats.loss, grad_logprobs: grad_logprobs.collect(), metrics: output.stats.metrics() })
}
