//! Next-token log-probs and entropies from final hidden states and the LM head.

use candle_core::{DType, Tensor, D};

use crate::ops::log_sum_exp;
use crate::{bail_input, Result};

/// Per-token statistics of the next-token distribution at scored positions.
#[derive(Debug, Clone)]
pub struct TokenStats {
    /// log π(target | prefix), f32.
    pub logprobs: Tensor,
    /// Entropy −Σ p log p of the whole next-token distribution, f32.
    pub entropy: Tensor,
}

/// The reference path: logits (N, V) are materialised in f32, then
/// log p(target) = logit(target) − logsumexp(logits) and H = logsumexp − Σ p · logit.
/// `hidden` is (N, d), `head` (V, d), `targets` (N) u32. Differentiable in hidden and head.
pub fn token_stats_naive(hidden: &Tensor, head: &Tensor, targets: &Tensor) -> Result<TokenStats> {
    let (n, d) = hidden.dims2()?;
    let (_, hd) = head.dims2()?;
    if d != hd || targets.dims() != [n] {
        bail_input!(
            "token_stats: hidden {:?}, head {:?} and targets {:?} do not fit (N, d), (V, d), (N)",
            hidden.shape(),
            head.shape(),
            targets.shape()
        );
    }
    let logits = hidden.matmul(&head.t()?)?.to_dtype(DType::F32)?; // (N, V)
    let lse = log_sum_exp(&logits)?; // (N, 1)
    let target_logits = logits.gather(&targets.unsqueeze(1)?, 1)?; // (N, 1)
    let logprobs = (target_logits - &lse)?.squeeze(1)?;
    let probs = logits.broadcast_sub(&lse)?.exp()?;
    let entropy = (lse.squeeze(1)? - (probs * &logits)?.sum(D::Minus1)?)?;
    Ok(TokenStats { logprobs, entropy })
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
        let stats = token_stats_naive(&hidden, &head, &targets)?;
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
