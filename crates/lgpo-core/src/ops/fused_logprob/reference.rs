//! The plain-tensor reference of the fused log-prob op: logits materialised, then log-softmax
//! and entropy by differentiable candle ops. Also the input checks both paths share.

use candle_core::{DType, Tensor, D};

use crate::ops::log_sum_exp;
use crate::{bail_input, Result};

/// Per-token statistics of the next-token distribution at scored positions.
#[derive(Debug, Clone)]
pub struct TokenStats {
    /// log π(target | prefix), f32 (f64 for f64 inputs).
    pub logprobs: Tensor,
    /// Entropy −Σ p log p of the whole next-token distribution, f32 (f64 for f64 inputs).
    pub entropy: Tensor,
}

/// The reference path: logits (N, V) are materialised in f32 (f64 for f64 inputs), then
/// log p(target) = logit(target) − logsumexp(logits) and H = logsumexp − Σ p · logit.
/// `hidden` is (N, d), `head` (V, d), `targets` (N) u32. Differentiable in hidden and head.
pub fn token_stats_slow(hidden: &Tensor, head: &Tensor, targets: &Tensor) -> Result<TokenStats> {
    check_token_stats_inputs(hidden, head, targets)?;
    let acc = if hidden.dtype() == DType::F64 { DType::F64 } else { DType::F32 };
    let logits = hidden.matmul(&head.t()?)?.to_dtype(acc)?; // (N, V)
    let lse = log_sum_exp(&logits)?; // (N, 1)
    let target_logits = logits.gather(&targets.unsqueeze(1)?, 1)?; // (N, 1)
    let logprobs = (target_logits - &lse)?.squeeze(1)?;
    let probs = logits.broadcast_sub(&lse)?.exp()?;
    let entropy = (lse.squeeze(1)? - (probs * &logits)?.sum(D::Minus1)?)?;
    Ok(TokenStats { logprobs, entropy })
}

/// Checks `hidden` (N, d), `head` (V, d) of one float dtype and `targets` (N) u32 below V.
pub(super) fn check_token_stats_inputs(hidden: &Tensor, head: &Tensor, targets: &Tensor) -> Result<()> {
    let fits = match (hidden.dims(), head.dims(), targets.dims()) {
        (&[n, d], &[v, hd], &[tn]) => d == hd && n == tn && d > 0 && v > 0,
        _ => false,
    };
    if !fits {
        bail_input!(
            "token_stats: hidden {:?}, head {:?} and targets {:?} do not fit (N, d), (V, d), (N)",
            hidden.shape(),
            head.shape(),
            targets.shape()
        );
    }
    if hidden.dtype() != head.dtype() || targets.dtype() != DType::U32 {
        bail_input!(
            "token_stats: hidden is {:?}, head {:?}, targets {:?}; expected one float dtype and u32 targets",
            hidden.dtype(),
            head.dtype(),
            targets.dtype()
        );
    }
    if targets.elem_count() > 0 {
        let (max, vocab) = (targets.max(0)?.to_scalar::<u32>()? as usize, head.dim(0)?);
        if max >= vocab {
            bail_input!("token_stats: target id {max} is not below the vocabulary size {vocab}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_hand_computed_distribution() -> Result<()> {
        // Hidden = identity rows select a row of the head as logits.
        let hidden = Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &Device::Cpu)?;
        let head = Tensor::new(&[[0f32, 0.0], [1.0, 2.0], [2.0, 0.0]], &Device::Cpu)?; // logits rows: [0,1,2], [0,2,0]
        let targets = Tensor::new(&[2u32, 0], &Device::Cpu)?;
        let stats = token_stats_slow(&hidden, &head, &targets)?;
        let expect = |logits: [f64; 3], t: usize| {
            let z: f64 = logits.iter().map(|l| l.exp()).sum();
            let p: Vec<f64> = logits.iter().map(|l| l.exp() / z).collect();
            (p[t].ln(), -p.iter().map(|q| q * q.ln()).sum::<f64>())
        };
        let got_lp = stats.logprobs.to_vec1::<f32>()?;
        let got_h = stats.entropy.to_vec1::<f32>()?;
        for (i, (logits, t)) in [([0., 1., 2.], 2), ([0., 2., 0.], 0)].into_iter().enumerate() {
            let (lp, h) = expect(logits, t);
            assert!((got_lp[i] as f64 - lp).abs() < 1e-6 && (got_h[i] as f64 - h).abs() < 1e-6);
        }
        Ok(())
    }
}
