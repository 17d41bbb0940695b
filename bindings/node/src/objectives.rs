//! The core's pure objective function.

use std::collections::HashMap;

use napi::Result;
use napi_derive::napi;

use crate::convert::{core, from_json, rows_f32};
use crate::errors::guard;
use lgpo_core::objectives::{evaluate, EvaluationInputs, Objective, ObjectiveConfig};

/// Per-token inputs of [`evaluate_objective`]; every row of the optional fields is as long as
/// its `logprobs` row.
#[napi(object)]
pub struct EvaluateInputs {
    pub logprobs: Vec<Vec<f64>>,
    pub old_logprobs: Option<Vec<Vec<f64>>>,
    pub ref_logprobs: Option<Vec<Vec<f64>>>,
    pub entropy: Option<Vec<Vec<f64>>>,
    pub advantages: Vec<f64>,
    /// Per token: forced by the task's format, so left out of the gate's mean log-likelihood.
    pub forced_tokens: Option<Vec<Vec<bool>>>,
    pub seed: Option<i64>,
}

/// Loss, dL/dlogp per token, and metrics.
#[napi(object)]
pub struct EvaluateResult {
    pub loss: f64,
    pub grad_logprobs: Vec<Vec<f64>>,
    pub metrics: HashMap<String, f64>,
}

/// Evaluates the objective described by `config` (the core's `ObjectiveConfig` as JSON, e.g.
/// `{ name: "lgpo", gate: { tau: -0.15 } }`) on per-token log-probs.
#[napi(js_name = "evaluateObjective")]
pub fn evaluate_objective(config: serde_json::Value, inputs: EvaluateInputs) -> Result<EvaluateResult> {
    guard(|| {
        let config: ObjectiveConfig = from_json(config, "objective config")?;
        let logprobs = rows_f32(&inputs.logprobs);
        let old = inputs.old_logprobs.as_deref().map(rows_f32);
        let reference = inputs.ref_logprobs.as_deref().map(rows_f32);
        let entropy = inputs.entropy.as_deref().map(rows_f32);
        let advantages: Vec<f32> = inputs.advantages.iter().map(|&a| a as f32).collect();
        let out = core(evaluate(
            &config,
            &EvaluationInputs {
                logprobs: &logprobs,
                old_logprobs: old.as_deref(),
                ref_logprobs: reference.as_deref(),
                entropy: entropy.as_deref(),
                advantages: &advantages,
                forced_tokens: inputs.forced_tokens.as_deref(),
                seed: crate::convert::non_negative(inputs.seed, "seed")?,
            },
        ))?;
        Ok(EvaluateResult {
            loss: out.loss,
            grad_logprobs: out.grad_logprobs.iter().map(|r| r.iter().map(|&v| v as f64).collect()).collect(),
            metrics: out.metrics.into_iter().collect(),
        })
    })
}

/// What an objective needs from the trainer.
#[napi(object)]
pub struct ObjectiveRequirements {
    /// Registry name.
    pub name: String,
    /// Old-policy log-probs (ratio-based objectives); LGPO never needs them.
    pub needs_old_logprobs: bool,
    /// Reference-policy log-probs (a KL penalty is on).
    pub needs_ref_logprobs: bool,
    /// Sequences with advantage 0 contribute nothing (no KL or entropy term, not a whole-batch
    /// objective): the trainer may skip them, in the update and in the old-log-prob pass.
    pub skips_zero_advantage: bool,
    /// Loss aggregation in use.
    pub aggregation: String,
    /// LGPO's likelihood gate (the `lgpo*` objectives): the trainer chooses its τ each step.
    pub uses_gate: bool,
}

/// τ of the likelihood gate when a config sets none (the core's `DEFAULT_TAU`, the paper's −0.15).
#[napi(js_name = "defaultGateTau")]
pub fn default_gate_tau() -> f64 {
    lgpo_core::objectives::DEFAULT_TAU
}

/// Builds the objective of `config` (failing like a training step would, naming the bad field)
/// and says what it needs: the trainer asks before its first step.
#[napi(js_name = "objectiveRequirements")]
pub fn objective_requirements(config: serde_json::Value) -> Result<ObjectiveRequirements> {
    guard(|| {
        let config: ObjectiveConfig = from_json(config, "objective config")?;
        let objective = core(Objective::from_config(&config))?;
        let aggregation = serde_json::to_value(objective.aggregation())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        Ok(ObjectiveRequirements {
            name: objective.name().to_string(),
            needs_old_logprobs: objective.needs_old_logprobs(),
            needs_ref_logprobs: objective.needs_ref_logprobs(),
            skips_zero_advantage: objective.allows_skipping_zero_advantage(),
            aggregation,
            uses_gate: objective.has_likelihood_gate(),
        })
    })
}
