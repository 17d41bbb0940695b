//! Custom ops with a forward and a backward pass.
//!
//! candle's fused `rms_norm`, `rope` and `softmax_last_dim` have no backward: used in a training
//! forward they stop gradients silently. Each op here comes in three parts (as in candle-nn's
//! `ops.rs`): a private struct implementing `CustomOpN` with the derivative written next to its
//! `bwd`, a public function that checks shapes and records the op for backprop, and a
//! plain-tensor `*_slow` reference built from differentiable candle ops.
//!
//! `fused_logprob` turns final hidden states and the LM head into per-token log-probs and
//! entropies without materialising the logits; its reference is
//! [`crate::model::token_stats_naive`].
//!
//! The fused CPU kernels run on CPU tensors; on other devices the public functions use the
//! (differentiable) reference composition until device kernels exist.

pub(crate) mod cpu;
pub mod fused_logprob;
pub mod rms_norm;
pub mod rope;
pub mod softmax;
#[cfg(test)]
pub(crate) mod testing;

pub use fused_logprob::fused_token_stats;
pub use rms_norm::{rms_norm, rms_norm_slow};
pub use rope::{rope, rope_slow};
pub use softmax::{log_sum_exp, softmax_last_dim};
