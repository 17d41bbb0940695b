//! Token-level ratio objectives: GRPO (PPO clip), DAPO (clip-higher), and the paper's Section 3.1
//! ablations that remove the ratio's correction role, its clipping role, or both (`pg`).
//!
//! With r = exp(logp − old_logp), the PPO loss of a token is −min(r A, clip(r, 1−ε_l, 1+ε_h) A),
//! whose gradient is −1_clip · A · r · ∇logp (paper Appendix A), where 1_clip is 0 exactly when
//! the ratio left the trust region in the direction the advantage pushes it:
//! (A > 0 and r > 1+ε_h) or (A < 0 and r < 1−ε_l); with dual clip c also when A < 0 and r > c.

use candle_core::Tensor;

use super::config::ObjectiveConfig;
use super::{advantage_column, ObjectiveInputs, PolicyObjective, TokenLoss};
use crate::{bail_input, Result};

/// The resolved clip range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClipRange {
    pub low: f64,
    pub high: f64,
    pub dual: Option<f64>,
}

impl ClipRange {
    pub(crate) fn from_config(config: &ObjectiveConfig, default_low: f64, default_high: f64) -> Result<Self> {
        let range = ClipRange {
            low: config.clip.low.unwrap_or(default_low),
            high: config.clip.high.unwrap_or(default_high),
            dual: config.clip.dual,
        };
        if !(range.low > 0.0 && range.low < 1.0) {
            bail_input!("clip.low must be in (0, 1), got {}", range.low);
        }
        if !(range.high > 0.0 && range.high.is_finite()) {
            bail_input!("clip.high must be a positive number, got {}", range.high);
        }
        if let Some(c) = range.dual {
            if !(c > 1.0 + range.high && c.is_finite()) {
                bail_input!("clip.dual must exceed 1 + clip.high = {}, got {c}", 1.0 + range.high);
            }
        }
        Ok(range)
    }
}

/// Which tokens are clipped, as f32 masks (B, R), constants for backprop.
pub(crate) struct ClipMasks {
    /// 1 where the gradient flows (1_clip).
    pub active: Tensor,
    pub clipped_low: Tensor,
    pub clipped_high: Tensor,
    /// A < 0 and r > c (dual clip).
    pub capped: Tensor,
}

impl ClipMasks {
    pub(crate) fn new(ratio: &Tensor, advantages: &Tensor, range: ClipRange) -> Result<Self> {
        let ratio = ratio.detach();
        let a = advantage_column(advantages)?.broadcast_as(ratio.shape())?;
        let positive = a.gt(0.0)?.to_dtype(ratio.dtype())?;
        let negative = a.lt(0.0)?.to_dtype(ratio.dtype())?;
        let clipped_high = (&positive * ratio.gt(1.0 + range.high)?.to_dtype(ratio.dtype())?)?;
        let clipped_low = (&negative * ratio.lt(1.0 - range.low)?.to_dtype(ratio.dtype())?)?;
        let capped = match range.dual {
            Some(c) => (&negative * ratio.gt(c)?.to_dtype(ratio.dtype())?)?,
            None => ratio.zeros_like()?,
        };
        let active = (((1.0 - &clipped_high)? - &clipped_low)? - &capped)?;
        Ok(ClipMasks { active, clipped_low, clipped_high, capped })
    }

    /// The PPO (+ dual-clip) loss −A · (active·r + clipped_high·(1+ε_h) + clipped_low·(1−ε_l) + capped·c):
    /// the value of −min(rA, clip(r)A) (capped at −cA), with gradient only where active.
    pub(crate) fn ppo_loss(&self, ratio: &Tensor, advantages: &Tensor, range: ClipRange) -> Result<Tensor> {
        let clipped_value = ((&self.clipped_high * (1.0 + range.high))? + (&self.clipped_low * (1.0 - range.low))?)?;
        let clipped_value = (clipped_value + (&self.capped * range.dual.unwrap_or(0.0))?)?;
        let effective = ((&self.active * ratio)? + clipped_value)?;
        Ok(effective.broadcast_mul(&advantage_column(advantages)?)?.neg()?)
    }

    pub(crate) fn counts(&self, mask: &Tensor) -> Result<(f64, f64)> {
        let count = |t: &Tensor| -> Result<f64> { Ok((t * mask)?.sum_all()?.to_scalar::<f32>()? as f64) };
        Ok((count(&self.clipped_low)?, count(&self.clipped_high)?))
    }
}

fn ratio(inputs: &ObjectiveInputs) -> Result<Tensor> {
    let old = inputs.old_logprobs.expect("ratio objectives declare needs_old_logprobs");
    // Padding positions hold arbitrary values; mask the log-ratio so exp cannot overflow there.
    Ok(((inputs.logprobs - old)? * inputs.mask)?.exp()?)
}

/// How much of the ratio's two roles a token-level objective keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Roles {
    /// GRPO/DAPO: correction weight r and clipping.
    Both,
    /// Clipping only: gradient 1_clip · A · ∇logp.
    ClipOnly,
    /// Correction only: loss −r A.
    CorrectionOnly,
}

/// GRPO, DAPO and the ablations that keep at least one role of the ratio.
pub(crate) struct RatioObjective {
    name: &'static str,
    roles: Roles,
    range: ClipRange,
}

impl RatioObjective {
    pub(crate) fn grpo(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(true, false)?;
        Ok(Box::new(RatioObjective {
            name: "grpo",
            roles: Roles::Both,
            range: ClipRange::from_config(config, 0.2, 0.2)?,
        }))
    }

    /// DAPO's clip-higher (ε_l 0.2, ε_h 0.28) with token-mean aggregation; its dynamic sampling
    /// and overlong shaping belong to the rollout layer.
    pub(crate) fn dapo(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(true, false)?;
        Ok(Box::new(RatioObjective {
            name: "dapo",
            roles: Roles::Both,
            range: ClipRange::from_config(config, 0.2, 0.28)?,
        }))
    }

    pub(crate) fn grpo_no_correction(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(true, false)?;
        let range = ClipRange::from_config(config, 0.2, 0.2)?;
        Ok(Box::new(RatioObjective { name: "grpo_no_correction", roles: Roles::ClipOnly, range }))
    }

    pub(crate) fn grpo_no_clip(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(false, false)?;
        // No trust region: the range is never consulted.
        let range = ClipRange { low: f64::NAN, high: f64::NAN, dual: None };
        Ok(Box::new(RatioObjective { name: "grpo_no_clip", roles: Roles::CorrectionOnly, range }))
    }
}

impl PolicyObjective for RatioObjective {
    fn name(&self) -> &'static str {
        self.name
    }

    fn needs_old_logprobs(&self) -> bool {
        true
    }

    fn token_loss(&self, inputs: &ObjectiveInputs) -> Result<TokenLoss> {
        let ratio = ratio(inputs)?;
        let a = advantage_column(inputs.advantages)?;
        let gated = vec![false; inputs.advantages.dim(0)?];
        if self.roles == Roles::CorrectionOnly {
            let loss = ratio.broadcast_mul(&a)?.neg()?;
            return Ok(TokenLoss { loss, gated, clipped_low_tokens: 0.0, clipped_high_tokens: 0.0 });
        }
        let masks = ClipMasks::new(&ratio, inputs.advantages, self.range)?;
        let loss = match self.roles {
            Roles::ClipOnly => masks.active.broadcast_mul(&a)?.neg()?.mul(inputs.logprobs)?,
            _ => masks.ppo_loss(&ratio, inputs.advantages, self.range)?,
        };
        let (clipped_low_tokens, clipped_high_tokens) = masks.counts(inputs.mask)?;
        Ok(TokenLoss { loss, gated, clipped_low_tokens, clipped_high_tokens })
    }
}

/// Vanilla policy gradient, −A · logp: the paper's "GRPO w/o correction & clipping".
pub(crate) struct PolicyGradient;

impl PolicyGradient {
    pub(crate) fn build(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(false, false)?;
        Ok(Box::new(PolicyGradient))
    }
}

impl PolicyObjective for PolicyGradient {
    fn name(&self) -> &'static str {
        "pg"
    }

    fn needs_old_logprobs(&self) -> bool {
        false
    }

    fn token_loss(&self, inputs: &ObjectiveInputs) -> Result<TokenLoss> {
        let a = advantage_column(inputs.advantages)?;
        let loss = inputs.logprobs.broadcast_mul(&a)?.neg()?;
        let b = inputs.advantages.dim(0)?;
        Ok(TokenLoss { loss, gated: vec![false; b], clipped_low_tokens: 0.0, clipped_high_tokens: 0.0 })
    }
}
