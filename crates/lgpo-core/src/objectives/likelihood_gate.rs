//! LGPO (paper Section 4, Algorithm 1) and its gate ablations (Section 5.2).
//!
//! c_i = 1[ℓ̄_i ≤ τ] with ℓ̄_i = (1/|y_i|) Σ_t logp_it under the current policy, taken from the
//! same forward pass and not differentiated (stop-gradient). The per-token loss is
//! −c_i A_i logp_it: no importance ratio, so no old-policy pass. ℓ̄ may leave out the tokens a
//! task forces ([`ObjectiveInputs::statistic_mask`]); τ is given per call: the trainer's
//! adaptive modes (ts/src/trainer/gate_threshold.ts) choose it before each rollout step.

use candle_core::Tensor;

use super::config::ObjectiveConfig;
use super::{advantage_column, mean_loglikelihoods, ObjectiveInputs, PolicyObjective, TokenLoss};
use crate::rng::SplitMix64;
use crate::{bail_input, Result};

/// Which sequences the gate drops, given those the likelihood rule flags.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GateRule {
    /// LGPO: every flagged sequence.
    Likelihood,
    /// Ablation: as many sequences as the likelihood rule flags, chosen uniformly at random.
    Random,
    /// Ablation: flagged sequences with A > 0 only.
    PositiveOnly,
    /// Ablation: each flagged sequence with probability p.
    Stochastic(f64),
}

pub(crate) struct LikelihoodGate {
    name: &'static str,
    tau: f64,
    tau_low: Option<f64>,
    rule: GateRule,
}

/// τ when a config sets none: the paper's −0.15 (an average token probability above 0.86 is
/// gated). The one statement of it: the TypeScript layer reads it through the binding.
pub const DEFAULT_TAU: f64 = -0.15;

impl LikelihoodGate {
    fn build(config: &ObjectiveConfig, name: &'static str, rule: GateRule) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(false, true)?;
        let tau = config.gate.tau.unwrap_or(DEFAULT_TAU);
        if !(tau.is_finite() && tau <= 0.0) {
            bail_input!("gate.tau must be a log-likelihood (finite, <= 0), got {tau}");
        }
        if let Some(low) = config.gate.tau_low {
            if !(low.is_finite() && low < tau) {
                bail_input!("gate.tau_low must be finite and below gate.tau = {tau}, got {low}");
            }
        }
        if config.gate.probability.is_some() && !matches!(rule, GateRule::Stochastic(_)) {
            bail_input!("gate.probability only applies to `lgpo_stochastic`");
        }
        Ok(Box::new(LikelihoodGate { name, tau, tau_low: config.gate.tau_low, rule }))
    }

    pub(crate) fn lgpo(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        Self::build(config, "lgpo", GateRule::Likelihood)
    }

    pub(crate) fn random(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        Self::build(config, "lgpo_random_gate", GateRule::Random)
    }

    pub(crate) fn positive_only(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        Self::build(config, "lgpo_positive_only", GateRule::PositiveOnly)
    }

    pub(crate) fn stochastic(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        let p = config.gate.probability.unwrap_or(0.5);
        if !(0.0..=1.0).contains(&p) {
            bail_input!("gate.probability must be in [0, 1], got {p}");
        }
        Self::build(config, "lgpo_stochastic", GateRule::Stochastic(p))
    }

    /// The sequences this objective drops.
    fn gated(&self, inputs: &ObjectiveInputs) -> Result<Vec<bool>> {
        let flagged: Vec<bool> = mean_loglikelihoods(inputs)?
            .into_iter()
            .map(|m| m > self.tau || self.tau_low.is_some_and(|low| m < low))
            .collect();
        let stream = |i: usize| SplitMix64::for_stream(inputs.seed, (inputs.first_sequence + i) as u64);
        Ok(match self.rule {
            GateRule::Likelihood => flagged,
            GateRule::PositiveOnly => {
                let a: Vec<f32> = inputs.advantages.to_vec1()?;
                flagged.iter().zip(&a).map(|(&f, &a)| f && a > 0.0).collect()
            }
            GateRule::Stochastic(p) => {
                flagged.iter().enumerate().map(|(i, &f)| f && stream(i).next_f64() < p).collect()
            }
            GateRule::Random => {
                // Fisher-Yates shuffle from this micro-batch's stream; gate the first k.
                let k = flagged.iter().filter(|&&f| f).count();
                let mut order: Vec<usize> = (0..flagged.len()).collect();
                let mut rng = stream(0);
                for i in (1..order.len()).rev() {
                    order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
                }
                let mut gated = vec![false; flagged.len()];
                order.iter().take(k).for_each(|&i| gated[i] = true);
                gated
            }
        })
    }
}

impl PolicyObjective for LikelihoodGate {
    fn name(&self) -> &'static str {
        self.name
    }

    fn needs_old_logprobs(&self) -> bool {
        false
    }

    fn needs_every_sequence(&self) -> bool {
        self.rule == GateRule::Random
    }

    fn has_likelihood_gate(&self) -> bool {
        true
    }

    fn token_loss(&self, inputs: &ObjectiveInputs) -> Result<TokenLoss> {
        let gated = self.gated(inputs)?;
        let keep: Vec<f32> = gated.iter().map(|&g| if g { 0.0 } else { 1.0 }).collect();
        let keep = Tensor::from_vec(keep, gated.len(), inputs.advantages.device())?;
        let weight = advantage_column(&(inputs.advantages * keep)?)?; // c_i A_i, (B, 1)
        let loss = inputs.logprobs.broadcast_mul(&weight)?.neg()?;
        Ok(TokenLoss { loss, gated, clipped_low_tokens: 0.0, clipped_high_tokens: 0.0 })
    }
}
