//! Next-token log-probs and entropies from final hidden states and the LM head.

use candle_core::Tensor;

use crate::ops::{fused_token_stats, token_stats_slow, TokenStats};
use crate::Result;

/// How final hidden states and the LM head become [`TokenStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogprobPath {
    /// [`fused_token_stats`] (the default): tiles over tokens and vocabulary with an online
    /// log-sum-exp, extra memory O(tile) instead of O(tokens × V). Its entropy is a metric
    /// without gradient.
    #[default]
    Fused,
    /// [`token_stats_slow`]: materialises the (tokens, V) f32 logits. Its entropy is
    /// differentiable too (for an entropy term in a loss).
    Naive,
}

impl LogprobPath {
    /// [`TokenStats`] of `hidden` (N, d) under `head` (V, d) for `targets` (N) u32.
    pub fn token_stats(self, hidden: &Tensor, head: &Tensor, targets: &Tensor) -> Result<TokenStats> {
        match self {
            LogprobPath::Fused => fused_token_stats(hidden, head, targets),
            LogprobPath::Naive => token_stats_slow(hidden, head, targets),
        }
    }
}
