//! GSPO (Zheng et al., 2025): the importance ratio and its clip at the sequence level.
//!
//! s_i = exp(mean_t (logp_it − old_it)). Written per token as
//! s_it = exp(sg(log s_i) + logp_it − sg(logp_it)), whose value is s_i and whose gradient is
//! s_i ∇logp_it, so −min(s_it A, clip(s_it) A) with seq-mean-token-mean aggregation gives the
//! GSPO gradient s_i A_i (1/|y_i|) Σ_t ∇logp_it for unclipped sequences (as verl writes it).

use candle_core::D;

use super::aggregation::Aggregation;
use super::config::ObjectiveConfig;
use super::ratio_clip::{ClipMasks, ClipRange};
use super::{host_rows, ObjectiveInputs, PolicyObjective, TokenLoss};
use crate::Result;

pub(crate) struct Gspo {
    range: ClipRange,
}

impl Gspo {
    pub(crate) fn build(config: &ObjectiveConfig) -> Result<Box<dyn PolicyObjective>> {
        config.check_sections(true, false)?;
        Ok(Box::new(Gspo { range: ClipRange::from_config(config, 3e-4, 4e-4)? }))
    }
}

impl PolicyObjective for Gspo {
    fn name(&self) -> &'static str {
        "gspo"
    }

    fn needs_old_logprobs(&self) -> bool {
        true
    }

    fn default_aggregation(&self) -> Aggregation {
        Aggregation::SeqMeanTokenMean
    }

    fn token_loss(&self, inputs: &ObjectiveInputs) -> Result<TokenLoss> {
        let (lp, mask) = (inputs.logprobs, inputs.mask);
        let old = inputs.old_logprobs.expect("gspo declares needs_old_logprobs");
        let lengths = mask.sum_keepdim(D::Minus1)?.clamp(1.0, f64::INFINITY)?;
        let seq_log_ratio = ((lp - old)? * mask)?.sum_keepdim(D::Minus1)?.div(&lengths)?.detach(); // (B, 1)
        let ratio = seq_log_ratio.broadcast_add(&(lp - lp.detach())?)?.exp()?; // (B, R), value s_i
        let masks = ClipMasks::new(&ratio, inputs.advantages, self.range)?;
        let loss = masks.ppo_loss(&ratio, inputs.advantages, self.range)?;
        // A sequence is clipped as a whole: every token shares its ratio.
        let active = host_rows(&masks.active)?;
        let gated = active.iter().map(|row| row.first().is_some_and(|&a| a == 0.0)).collect();
        let (clipped_low_tokens, clipped_high_tokens) = masks.counts(mask)?;
        Ok(TokenLoss { loss, gated, clipped_low_tokens, clipped_high_tokens })
    }
}
