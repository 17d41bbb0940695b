//! # lgpo-core
//!
//! The tensor side of lgpo (Likelihood-Gated Policy Optimization): a Qwen2/Qwen2.5 causal LM on
//! candle with a differentiable training forward, log-probs without gradient, batched generation
//! with a KV cache, and the Qwen2 tokenizer. Plain Rust, usable and tested without Node.
//!
//! Modules, one concept each:
//! - [`model`]: config, checkpoint loading, the training forward and the KV-cache decode path.
//! - [`ops`]: custom ops with forward and backward (rms_norm, rope, the fused per-token log-prob).
//! - [`generate`]: batched sampling returning tokens and their sampling log-probs.
//! - [`objectives`]: LGPO, the GRPO family, GSPO, DAPO and the gate ablations (by registry name).
//! - [`policy`]: model + optimizer: minibatch updates with exact micro-batch normalisation, and
//!   the old-log-prob pass that ratio-based objectives need.
//! - [`optim`]: AdamW, gradient-norm clipping, learning-rate schedules.
//! - [`comm`]: data-parallel collectives (one process, or MPI ranks with the `mpi` feature).
//! - [`checkpoint`]: saving a model as a Hugging Face checkpoint directory.
//! - [`tokenizer`]: the Qwen2 byte-level BPE tokenizer.
//! - [`device`]: devices and compute dtypes by name (`cpu`, `cuda:N`; `f32`, `bf16`).
//! - [`rng`]: the seeded generator every random draw uses (SplitMix64).
//! - [`error`]: the typed error naming the file, tensor or field at fault.
//! - [`allocator`]: the memory allocator of lgpo's binaries.
//! - [`peak`]: the machine's f32 matmul throughput, the reference of model FLOPs utilisation.
//! - `cuda` (feature `cuda`, private): the CUDA kernels behind the ops.

// `!(x > 0.0)` is written on purpose throughout: it also rejects NaN.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

pub mod allocator;
pub mod checkpoint;
pub mod comm;
#[cfg(feature = "cuda")]
mod cuda;
pub mod device;
pub mod error;
pub mod generate;
pub mod model;
pub mod objectives;
pub mod ops;
pub mod optim;
pub mod peak;
pub mod policy;
pub mod rng;
pub mod tokenizer;

pub use error::{Error, Result};

/// Threads of the CPU kernels (rayon's global pool: `RAYON_NUM_THREADS`, else one per core).
pub fn compute_threads() -> usize {
    rayon::current_num_threads()
}
