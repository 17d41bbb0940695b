//! Policy objectives: LGPO, the GRPO family, GSPO, DAPO and the paper's gate ablations.
//!
//! Every objective is a function of per-token log-probs under the current policy
//! (differentiable), optional old-policy log-probs, one advantage per sequence (broadcast to its
//! tokens) and the response mask. Since dL/dlogp per token determines the whole update, each
//! objective is tested on its own against its closed form ([`evaluate`] computes it).
//! Objectives are picked by name from a [`Registry`]; [`aggregation::aggregate`] turns per-token
//! losses into the scalar with exact normalisation across micro-batches.

pub mod aggregation;
mod config;
mod evaluate;
mod gspo;
mod likelihood_gate;
mod ratio_clip;
mod registry;
mod stats;

use candle_core::{DType, Tensor};

pub use aggregation::{Aggregation, Normalizer};
pub use config::{ClipConfig, GateConfig, KlConfig, KlEstimator, ObjectiveConfig};
pub use evaluate::{evaluate, Evaluation, EvaluationInputs};
pub use likelihood_gate::DEFAULT_TAU;
pub use registry::{Constructor, Registry};
pub use stats::{Metrics, ObjectiveStats, RatioStats};

use crate::{bail_input, Result};

/// The inputs of an objective for B sequences with responses padded to R tokens.
#[derive(Debug, Clone, Copy)]
pub struct ObjectiveInputs<'a> {
    /// log π_θ of each response token (B, R) f32, differentiable.
    pub logprobs: &'a Tensor,
    /// log π_old of each response token (B, R) f32, for ratio-based objectives.
    pub old_logprobs: Option<&'a Tensor>,
    /// log π_ref of each response token (B, R) f32, for the KL penalty.
    pub ref_logprobs: Option<&'a Tensor>,
    /// Entropy of the next-token distribution (B, R) f32; the entropy bonus needs it
    /// differentiable.
    pub entropy: Option<&'a Tensor>,
    /// One advantage per sequence (B) f32.
    pub advantages: &'a Tensor,
    /// 1 for response tokens, 0 for padding (B, R) f32.
    pub mask: &'a Tensor,
    /// 1 for the response tokens that count in a sequence's mean log-likelihood ℓ̄ (the gate's
    /// statistic), 0 for padding and for tokens the task forces (format tags); `None`: `mask`.
    pub statistic_mask: Option<&'a Tensor>,
    /// Minibatch-level counts for the aggregation.
    pub norm: Normalizer,
    /// Seed of this update's random streams (random and stochastic gates).
    pub seed: u64,
    /// Index within the minibatch of row 0 (each sequence draws from its own stream).
    pub first_sequence: usize,
}

/// What an objective computes before penalties and aggregation.
#[derive(Debug, Clone)]
pub struct TokenLoss {
    /// Per-token loss (B, R); padding positions must be finite (they are masked).
    pub loss: Tensor,
    /// Per sequence: dropped by the objective's trust region (LGPO gate, GSPO sequence clip).
    pub gated: Vec<bool>,
    /// Tokens whose ratio was clipped from below (A < 0) / from above (A > 0).
    pub clipped_low_tokens: f64,
    pub clipped_high_tokens: f64,
}

/// One policy objective. Implementations hold their resolved settings.
pub trait PolicyObjective: Send + Sync {
    /// Registry name.
    fn name(&self) -> &'static str;
    /// Whether it needs old-policy log-probs (the pass LGPO removes).
    fn needs_old_logprobs(&self) -> bool;
    /// Whether it must see every sequence, zero-advantage ones included (the random gate
    /// matches the likelihood gate's count over all sequences), so none may be skipped.
    fn needs_every_sequence(&self) -> bool {
        false
    }
    /// Whether it drops sequences by LGPO's likelihood gate (the `gate` section and its τ apply).
    fn has_likelihood_gate(&self) -> bool {
        false
    }
    /// Aggregation used when the config sets none.
    fn default_aggregation(&self) -> Aggregation {
        Aggregation::TokenMean
    }
    /// The per-token loss of `inputs`.
    fn token_loss(&self, inputs: &ObjectiveInputs) -> Result<TokenLoss>;
}

/// A configured objective: the registry's objective plus aggregation and penalties.
pub struct Objective {
    inner: Box<dyn PolicyObjective>,
    aggregation: Aggregation,
    kl: KlConfig,
    entropy_coef: f64,
}

/// The loss of a micro-batch, its statistics and the per-sequence decisions.
#[derive(Debug, Clone)]
pub struct ObjectiveOutput {
    /// Scalar loss, differentiable in the log-probs.
    pub loss: Tensor,
    pub stats: ObjectiveStats,
    /// Per sequence: dropped by the objective's trust region (LGPO gate, GSPO sequence clip).
    pub gated: Vec<bool>,
    /// Per sequence: mean log-prob of its response tokens under the current policy, over the
    /// tokens of the statistic mask (what LGPO's gate compares with τ; 0 when none counts).
    pub mean_logprobs: Vec<f64>,
}

pub(crate) fn host_rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(t.to_dtype(DType::F32)?.to_vec2()?)
}

/// Mean of each row over its masked-in positions (0 for a row with none): a sequence's mean
/// token log-likelihood ℓ̄ when the rows are log-probs.
pub(crate) fn masked_row_means(rows: &[Vec<f32>], mask: &[Vec<f32>]) -> Vec<f64> {
    rows.iter()
        .zip(mask)
        .map(|(row, m)| {
            let n: f64 = m.iter().map(|&v| v as f64).sum();
            let s: f64 = row.iter().zip(m).map(|(&x, &v)| (x * v) as f64).sum();
            if n > 0.0 {
                s / n
            } else {
                0.0
            }
        })
        .collect()
}

/// Rows of 1 for the tokens that count in ℓ̄ and 0 for forced ones (a statistic mask before
/// padding).
pub(crate) fn counted_tokens(forced: &[Vec<bool>]) -> Vec<Vec<f32>> {
    forced.iter().map(|row| row.iter().map(|&f| if f { 0.0 } else { 1.0 }).collect()).collect()
}

/// ℓ̄ of each sequence: its mean token log-likelihood over the statistic mask (stop-gradient).
pub(crate) fn mean_loglikelihoods(inputs: &ObjectiveInputs) -> Result<Vec<f64>> {
    let counted = host_rows(inputs.statistic_mask.unwrap_or(inputs.mask))?;
    Ok(masked_row_means(&host_rows(inputs.logprobs)?, &counted))
}

impl Objective {
    /// Builds the objective of `config` from the built-in registry.
    pub fn from_config(config: &ObjectiveConfig) -> Result<Self> {
        Registry::builtin().build(config)
    }

    pub(crate) fn new(inner: Box<dyn PolicyObjective>, config: &ObjectiveConfig) -> Self {
        let aggregation = config.aggregation.unwrap_or_else(|| inner.default_aggregation());
        Objective { inner, aggregation, kl: config.kl.clone(), entropy_coef: config.entropy_coef }
    }

    /// Registry name.
    pub fn name(&self) -> &'static str {
        self.inner.name()
    }

    /// Whether old-policy log-probs must be computed before the updates.
    pub fn needs_old_logprobs(&self) -> bool {
        self.inner.needs_old_logprobs()
    }

    /// Whether the objective has LGPO's likelihood gate (the trainer chooses its τ each step).
    pub fn has_likelihood_gate(&self) -> bool {
        self.inner.has_likelihood_gate()
    }

    /// Whether reference-policy log-probs are needed (KL penalty on).
    pub fn needs_ref_logprobs(&self) -> bool {
        self.kl.coef != 0.0
    }

    /// Whether the entropy must be differentiable (entropy bonus on).
    pub fn needs_entropy_grad(&self) -> bool {
        self.entropy_coef != 0.0
    }

    /// Whether zero-advantage sequences may be skipped without changing the update or the
    /// objective's decisions: not with a KL penalty or entropy bonus (they give those sequences
    /// a gradient), nor for the random gate (it counts every sequence).
    pub fn allows_skipping_zero_advantage(&self) -> bool {
        !self.inner.needs_every_sequence() && self.kl.coef == 0.0 && self.entropy_coef == 0.0
    }

    /// The aggregation in use.
    pub fn aggregation(&self) -> Aggregation {
        self.aggregation
    }

    /// Loss and statistics of a micro-batch.
    pub fn loss(&self, inputs: &ObjectiveInputs) -> Result<ObjectiveOutput> {
        self.check(inputs)?;
        let TokenLoss { loss: mut token_loss, gated, clipped_low_tokens, clipped_high_tokens } =
            self.inner.token_loss(inputs)?;
        if self.kl.coef != 0.0 {
            let reference = inputs.ref_logprobs.expect("checked");
            let kl = match self.kl.estimator {
                KlEstimator::K1 => (inputs.logprobs - reference)?,
                KlEstimator::K3 => {
                    let d = (reference - inputs.logprobs)?;
                    ((d.exp()? - &d)? - 1.0)?
                }
            };
            token_loss = (token_loss + (kl * self.kl.coef)?)?;
        }
        if self.entropy_coef != 0.0 {
            token_loss = (token_loss - (inputs.entropy.expect("checked") * self.entropy_coef)?)?;
        }
        let loss = aggregation::aggregate(&token_loss, inputs.mask, self.aggregation, inputs.norm)?;

        let advantages: Vec<f32> = inputs.advantages.to_vec1()?;
        let mask = host_rows(inputs.mask)?;
        let logprobs = host_rows(inputs.logprobs)?;
        let masked_sum = |rows: &[Vec<f32>]| -> f64 {
            rows.iter().zip(&mask).flat_map(|(r, m)| r.iter().zip(m).map(|(v, m)| (*v * *m) as f64)).sum()
        };
        let mean_logprobs = mean_loglikelihoods(inputs)?;
        let mut stats = ObjectiveStats {
            loss: loss.to_dtype(DType::F64)?.to_scalar()?,
            sequences: advantages.len() as f64,
            gated: gated.iter().filter(|&&g| g).count() as f64,
            zero_advantage: advantages.iter().filter(|&&a| a == 0.0).count() as f64,
            kept_nonzero_advantage: advantages.iter().zip(&gated).filter(|(&a, &g)| a != 0.0 && !g).count() as f64,
            tokens: mask.iter().flatten().map(|&m| m as f64).sum(),
            clipped_low_tokens,
            clipped_high_tokens,
            logprob_sum: masked_sum(&logprobs),
            entropy_sum: inputs.entropy.map(host_rows).transpose()?.map(|e| masked_sum(&e)),
            ratio: None,
        };
        if let Some(old) = inputs.old_logprobs {
            let old = host_rows(old)?;
            let mut r = RatioStats { sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, kl_sum: 0.0 };
            for ((lp, old), m) in logprobs.iter().zip(&old).zip(&mask) {
                for ((&lp, &old), _) in lp.iter().zip(old).zip(m).filter(|(_, &m)| m > 0.0) {
                    let log_ratio = (lp - old) as f64;
                    let ratio = log_ratio.exp();
                    r.sum += ratio;
                    r.min = r.min.min(ratio);
                    r.max = r.max.max(ratio);
                    // k3 estimate of KL(old ‖ current) from samples of old: r − 1 − log r.
                    r.kl_sum += ratio - 1.0 - log_ratio;
                }
            }
            stats.ratio = Some(r);
        }
        Ok(ObjectiveOutput { loss, stats, gated, mean_logprobs })
    }

    fn check(&self, inputs: &ObjectiveInputs) -> Result<()> {
        let (b, r) = inputs.logprobs.dims2().map_err(|_| {
            crate::Error::input(format!("logprobs must be (batch, tokens), got {:?}", inputs.logprobs.shape()))
        })?;
        if inputs.advantages.dims() != [b] {
            bail_input!("advantages has shape {:?}, expected [{b}]", inputs.advantages.shape());
        }
        let optional = [
            ("old_logprobs", inputs.old_logprobs),
            ("ref_logprobs", inputs.ref_logprobs),
            ("entropy", inputs.entropy),
            ("statistic_mask", inputs.statistic_mask),
        ];
        for (name, t) in [("mask", Some(inputs.mask))].into_iter().chain(optional) {
            if let Some(t) = t {
                if t.dims() != [b, r] {
                    bail_input!("{name} has shape {:?}, logprobs has [{b}, {r}]", t.shape());
                }
            }
        }
        if self.needs_old_logprobs() && inputs.old_logprobs.is_none() {
            bail_input!("objective `{}` needs old_logprobs", self.name());
        }
        if self.needs_ref_logprobs() && inputs.ref_logprobs.is_none() {
            bail_input!("kl.coef is {} but no ref_logprobs were given", self.kl.coef);
        }
        if self.needs_entropy_grad() && inputs.entropy.is_none() {
            bail_input!("entropy_coef is {} but no entropy was given", self.entropy_coef);
        }
        Ok(())
    }
}

/// Advantages (B) as a (B, 1) column for broadcasting over tokens.
pub(crate) fn advantage_column(advantages: &Tensor) -> Result<Tensor> {
    Ok(advantages.unsqueeze(1)?)
}
