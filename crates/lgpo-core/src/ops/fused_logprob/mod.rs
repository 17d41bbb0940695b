//! Log-prob of the taken token and entropy of the next-token distribution, straight from the
//! final hidden states and the LM head, without materialising the (N, V) logits.
//!
//! For hidden row h_i and head rows W_j the logits are l_ij = h_i · W_j. The kernel walks blocks
//! of [`CHUNK_TOKENS`] rows and, inside a block, tiles of [`CHUNK_VOCAB`] head rows, keeping for
//! each row an online log-sum-exp: the running max m, s = Σ e^(l−m) and w = Σ e^(l−m) (l−m). Then
//!   lse = m + ln s,   log p(t) = l_t − lse,   H = lse − Σ p l = ln s − w / s,
//! the entropy coming from shifted logits, so no two large numbers cancel. The vocabulary tiles
//! are split among the rayon threads, one contiguous range each, and the partial states are
//! merged in a fixed order: results depend on the thread count only.
//!
//! Extra memory is a (CHUNK_TOKENS, CHUNK_VOCAB) logits tile per thread, plus in the backward a
//! (CHUNK_TOKENS, d) partial dL/dh per thread: O(chunk). The backward needs the logits again:
//! when the forward runs for training, without activation checkpointing, and the (N, V) logits
//! take at most [`KEEP_LOGITS_BYTES`], the forward keeps them (keeping costs a write,
//! recomputing a third of the backward's FLOPs); otherwise the backward recomputes them tile by
//! tile, so memory stays O(chunk) for long responses. Either way only the rows with a non-zero
//! gradient are used (padding and gated tokens cost nothing). bf16/f16 inputs are upcast to f32
//! tile by tile; accumulation is f32 (f64 for f64 inputs).
//!
//! Layout: `kernel` (the CPU forward and backward), `op` (the candle custom ops), `reference`
//! ([`token_stats_slow`], the plain-tensor reference, and the input checks both paths share).

mod kernel;
mod op;
mod reference;
#[cfg(test)]
mod tests;

use candle_core::{DType, Device, Tensor};

use super::grad_sink::GradSink;
use super::has_kernel;
use crate::Result;
use op::FusedLogprob;
use reference::check_token_stats_inputs;
pub use reference::{token_stats_slow, TokenStats};

/// Hidden rows per block. Every head tile is multiplied with a whole block, so W is streamed
/// from memory N / CHUNK_TOKENS times; 1024 rows make that cheap next to the matmul while the
/// per-thread buffers stay a few MB.
pub const CHUNK_TOKENS: usize = 1024;
/// Head rows per tile: a (1024, 512) f32 logits tile is 2 MB per thread, and 512 columns keep
/// the three tile matmuls (logits, dL/dh, dL/dW) large enough for gemm's full speed.
pub const CHUNK_VOCAB: usize = 512;

/// Hidden rows per block on CUDA: a (4096, 8192) f32 logits tile is 128 MiB, and the products
/// are large enough for cuBLAS's full speed.
pub const CUDA_CHUNK_TOKENS: usize = 4096;
/// Head rows per tile on CUDA.
pub const CUDA_CHUNK_VOCAB: usize = 8192;

/// The largest (N, V) logits, in bytes of the accumulation type, that a training forward keeps
/// for its backward (CPU). 256 MiB holds, at Qwen2.5's vocabulary, the logits of about 440
/// response tokens in f32.
pub const KEEP_LOGITS_BYTES: usize = 256 << 20;

/// Block and tile sizes of the fused kernels (tests use small ones to cover many tiles and
/// ragged edges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunks {
    /// Hidden rows per block.
    pub tokens: usize,
    /// Head rows per tile.
    pub vocab: usize,
}

const DEFAULT_CHUNKS: Chunks = Chunks { tokens: CHUNK_TOKENS, vocab: CHUNK_VOCAB };
const CUDA_CHUNKS: Chunks = Chunks { tokens: CUDA_CHUNK_TOKENS, vocab: CUDA_CHUNK_VOCAB };

impl Chunks {
    /// The default sizes for tensors on `device`.
    pub fn for_device(device: &Device) -> Self {
        if device.is_cuda() {
            CUDA_CHUNKS
        } else {
            DEFAULT_CHUNKS
        }
    }
}

/// Log-prob of each target and entropy of each row's next-token distribution for `hidden`
/// (N, d), `head` (V, d) and `targets` (N) u32, without materialising the (N, V) logits.
///
/// The log-probs are differentiable in `hidden` and `head` (a tied head is the embedding
/// matrix, whose gradient then collects both uses); the entropy is a metric and carries no
/// gradient. Both are f32 (f64 for f64 inputs). Kernels on CPU and on CUDA (f32, bf16, f16 with
/// f32 accumulation; cuBLAS tile products); elsewhere this falls back to [`token_stats_slow`],
/// the reference it is tested against.
///
/// ```
/// # use candle_core::{Device, Tensor};
/// let hidden = Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &Device::Cpu)?;
/// let head = Tensor::new(&[[0f32, 0.0], [1.0, 2.0], [2.0, 0.0]], &Device::Cpu)?;
/// let targets = Tensor::new(&[2u32, 0], &Device::Cpu)?;
/// let stats = lgpo_core::ops::fused_token_stats(&hidden, &head, &targets)?;
/// // Row 0 has logits [0, 1, 2]: log p(2) = 2 − ln(1 + e + e²).
/// let logprobs: Vec<f32> = stats.logprobs.to_vec1()?;
/// assert!((logprobs[0] - (2.0 - (1.0 + 1f32.exp() + 2f32.exp()).ln())).abs() < 1e-6);
/// # Ok::<(), lgpo_core::Error>(())
/// ```
pub fn fused_token_stats(hidden: &Tensor, head: &Tensor, targets: &Tensor) -> Result<TokenStats> {
    fused_token_stats_chunked(hidden, head, targets, Chunks::for_device(hidden.device()))
}

/// [`fused_token_stats`] with explicit block and tile sizes (the results do not depend on them
/// beyond rounding; small ones exercise many tiles and ragged edges in checks).
pub fn fused_token_stats_chunked(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    chunks: Chunks,
) -> Result<TokenStats> {
    fused_stats(hidden, head, targets, chunks, None, true)
}

/// [`fused_token_stats`] whose backward adds the head's gradient dL/dW to `head_grad` (f32; f64
/// for f64 inputs) instead of returning it to candle's `GradStore`, which would zero-fill and
/// add a buffer of the head's size (see [`GradSink`]). Where the kernel does not run (the
/// fallback to [`token_stats_slow`]) the gradient goes to the store as usual, so a caller
/// collects the head's gradient from both. Without `keep_logits` the forward never keeps the
/// logits for the backward, whatever their size (activation checkpointing's choice).
pub fn fused_token_stats_with_sink(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    head_grad: &GradSink,
    keep_logits: bool,
) -> Result<TokenStats> {
    let chunks = Chunks::for_device(hidden.device());
    fused_stats(hidden, head, targets, chunks, Some(head_grad.clone()), keep_logits)
}

fn fused_stats(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    chunks: Chunks,
    head_grad: Option<GradSink>,
    may_keep_logits: bool,
) -> Result<TokenStats> {
    check_token_stats_inputs(hidden, head, targets)?;
    if chunks.tokens == 0 || chunks.vocab == 0 {
        crate::bail_input!("fused_token_stats: chunk sizes must be positive, got {chunks:?}");
    }
    if !has_kernel(hidden) {
        return token_stats_slow(hidden, head, targets);
    }
    let op = FusedLogprob::new(chunks, head_grad, may_keep_logits && keeps_logits(hidden, head));
    let out = hidden.contiguous()?.apply_op3(&head.contiguous()?, &targets.contiguous()?, op)?;
    Ok(TokenStats { logprobs: out.narrow(1, 0, 1)?.squeeze(1)?, entropy: out.narrow(1, 1, 1)?.squeeze(1)?.detach() })
}

/// Whether the forward keeps the logits for the backward: on CPU, when a backward can follow
/// (an input is part of a graph) and they take at most [`KEEP_LOGITS_BYTES`].
fn keeps_logits(hidden: &Tensor, head: &Tensor) -> bool {
    let acc_bytes = if hidden.dtype() == DType::F64 { 8 } else { 4 };
    let bytes = hidden.dim(0).unwrap_or(0) * head.dim(0).unwrap_or(0) * acc_bytes;
    hidden.device().is_cpu() && (hidden.track_op() || head.track_op()) && bytes <= KEEP_LOGITS_BYTES
}
