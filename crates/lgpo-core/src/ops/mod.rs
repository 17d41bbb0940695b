//! Custom ops with a forward and a backward pass.
//!
//! candle's fused `rms_norm`, `rope` and `softmax_last_dim` have no backward: used in a training
//! forward they stop gradients silently. Each op here comes in three parts (as in candle-nn's
//! `ops.rs`): a private struct implementing `CustomOpN` with the derivative written next to its
//! `bwd`, a public function that checks shapes and records the op for backprop, and a
//! plain-tensor `*_slow` reference built from differentiable candle ops.
//!
//! `head_logits` is the decode step's LM head on the CPU (forward only). A [`GradSink`] takes an
//! op's gradient of a large input (the LM head) past candle's zero-fill-and-add accumulation.
//!
//! `fused_logprob` turns final hidden states and the LM head into per-token log-probs and
//! entropies without materialising the logits; its reference is [`token_stats_slow`].
//!
//! The kernels run on CPU tensors and, with the `cuda` feature, on CUDA tensors (f32, bf16, f16;
//! CUDA C++ in `crate::cuda`); elsewhere the public functions use the (differentiable) reference
//! composition, which also stays the reference the kernels are tested against.

pub(crate) mod cpu;
pub mod fused_logprob;
pub mod grad_sink;
pub mod head_logits;
pub mod rms_norm;
pub mod rope;
pub mod softmax;
#[cfg(test)]
pub(crate) mod testing;

pub use fused_logprob::{
    fused_token_stats, fused_token_stats_chunked, fused_token_stats_with_sink, token_stats_slow, TokenStats,
};
pub use grad_sink::GradSink;
pub use head_logits::head_logits;
pub use rms_norm::{rms_norm, rms_norm_slow};
pub use rope::{rope, rope_slow};
pub use softmax::{log_sum_exp, softmax_last_dim};

/// Whether the custom kernels run on `x`'s device and dtype: CPU (any float type) or CUDA (f32,
/// bf16, f16). Elsewhere the ops fall back to their differentiable compositions.
pub(crate) fn has_kernel(x: &candle_core::Tensor) -> bool {
    x.device().is_cpu() || (x.device().is_cuda() && x.dtype() != candle_core::DType::F64)
}
