//! The objective config: a name from the registry plus one section per mechanism (ratio clip,
//! likelihood gate, KL penalty, entropy bonus, aggregation). A section an objective does not use
//! must be left unset; each objective fills its own defaults.

use serde::{Deserialize, Serialize};

use super::aggregation::Aggregation;
use crate::{bail_input, Result};

/// Ratio clipping (PPO/GRPO, DAPO's clip-higher, GSPO's sequence clip). Unset fields take the
/// objective's defaults: grpo 0.2/0.2, dapo 0.2/0.28, gspo 3e-4/4e-4.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipConfig {
    /// Lower clip: the ratio is clipped at 1 − low.
    pub low: Option<f64>,
    /// Upper clip: the ratio is clipped at 1 + high.
    pub high: Option<f64>,
    /// Dual-clip constant c > 1 (Ye et al., 2020): for A < 0 the loss is capped at −c·A.
    pub dual: Option<f64>,
}

impl ClipConfig {
    fn is_set(&self) -> bool {
        self.low.is_some() || self.high.is_some() || self.dual.is_some()
    }
}

/// The likelihood gate of LGPO and its ablations (paper Sections 4 and 5.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// Gate sequences whose mean token log-likelihood exceeds τ (default −0.15, i.e. an average
    /// token probability above exp(−0.15) ≈ 0.86).
    pub tau: Option<f64>,
    /// Also gate sequences whose mean log-likelihood is below this (two-sided gate); off by
    /// default, since low-likelihood sequences are rare (paper Appendix E.2).
    pub tau_low: Option<f64>,
    /// `lgpo_stochastic` only: probability that a high-likelihood sequence is gated (default 0.5).
    pub probability: Option<f64>,
}

impl GateConfig {
    fn is_set(&self) -> bool {
        self.tau.is_some() || self.tau_low.is_some() || self.probability.is_some()
    }
}

/// Estimator of KL(π_θ ‖ π_ref) per token, from log-probs of the sampled token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// log π_θ − log π_ref (unbiased, can be negative).
    K1,
    /// exp(log π_ref − log π_θ) − (log π_ref − log π_θ) − 1 (unbiased, non-negative; Schulman 2020).
    #[default]
    K3,
}

/// Penalty toward a reference policy; off (coefficient 0) by default, as in the paper.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KlConfig {
    /// Coefficient β of the per-token KL term added to the loss.
    #[serde(default)]
    pub coef: f64,
    /// Per-token estimator.
    #[serde(default)]
    pub estimator: KlEstimator,
}

/// A policy objective selected by name, with the settings of the mechanisms it uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectiveConfig {
    /// Registry name: `lgpo`, `lgpo_random_gate`, `lgpo_positive_only`, `lgpo_stochastic`,
    /// `grpo`, `grpo_no_correction`, `grpo_no_clip`, `pg`, `gspo`, `dapo`.
    pub name: String,
    /// Loss aggregation; unset takes the objective's default (token-mean; gspo: seq-mean-token-mean).
    #[serde(default)]
    pub aggregation: Option<Aggregation>,
    /// Ratio clipping, for ratio-based objectives.
    #[serde(default)]
    pub clip: ClipConfig,
    /// Likelihood gate, for the `lgpo*` objectives.
    #[serde(default)]
    pub gate: GateConfig,
    /// KL penalty to a reference policy (needs reference log-probs when the coefficient is not 0).
    #[serde(default)]
    pub kl: KlConfig,
    /// Coefficient of an entropy bonus (subtracted from the loss); 0 by default.
    #[serde(default)]
    pub entropy_coef: f64,
}

impl ObjectiveConfig {
    /// The config of `name` with every setting at its default.
    pub fn named(name: &str) -> Self {
        ObjectiveConfig {
            name: name.to_string(),
            aggregation: None,
            clip: ClipConfig::default(),
            gate: GateConfig::default(),
            kl: KlConfig::default(),
            entropy_coef: 0.0,
        }
    }

    /// Fails when a section is set that an objective without that mechanism would ignore.
    pub(crate) fn check_sections(&self, uses_clip: bool, uses_gate: bool) -> Result<()> {
        if !uses_clip && self.clip.is_set() {
            bail_input!("objective `{}` has no ratio clip: remove `clip`", self.name);
        }
        if !uses_gate && self.gate.is_set() {
            bail_input!("objective `{}` has no likelihood gate: remove `gate`", self.name);
        }
        if !self.kl.coef.is_finite() || self.kl.coef < 0.0 {
            bail_input!("kl.coef must be a finite number >= 0, got {}", self.kl.coef);
        }
        if !self.entropy_coef.is_finite() {
            bail_input!("entropy_coef must be finite, got {}", self.entropy_coef);
        }
        Ok(())
    }
}
