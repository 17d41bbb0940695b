//! Node bindings of lgpo-core, built with napi-rs. Thin by design: each function converts its
//! arguments, runs the core call (heavy ones off the JS thread as `AsyncTask`s on libuv's pool)
//! and converts the result back. Core errors become JS `Error`s carrying the core's message; a
//! panic becomes an `Error` too, never a crash of the Node process.

// napi's macros register the exported items only outside `cfg(test)`.
#![cfg_attr(test, allow(dead_code))]

mod convert;
mod distributed;
mod errors;
mod objectives;
mod policy;
mod tokenizer;

// lgpo's allocator (lgpo_core::allocator): freed tensors are kept for reuse, not unmapped and
// faulted in again each step.
#[global_allocator]
static ALLOC: lgpo_core::allocator::Allocator = lgpo_core::allocator::Allocator;

/// Runs when Node loads the addon, before any tensor is allocated.
#[napi_derive::module_init]
fn init() {
    lgpo_core::allocator::keep_freed_memory();
}

/// Threads of the core's CPU kernels (`RAYON_NUM_THREADS`, else one per core): what a peer
/// benchmark should give PyTorch.
#[napi_derive::napi(js_name = "computeThreads")]
pub fn compute_threads() -> u32 {
    lgpo_core::compute_threads() as u32
}

/// The top-level files of a checkpoint other than its weights: `config.json` and the files the
/// core carries over on save. The hub client downloads these.
#[napi_derive::napi(js_name = "checkpointFiles")]
pub fn checkpoint_files() -> Vec<String> {
    std::iter::once("config.json").chain(lgpo_core::checkpoint::CARRIED_FILES).map(String::from).collect()
}

/// FLOP/s of an `n × n` f32 matmul on the CPU through candle, the best of `repeats` after a
/// warm-up: the machine's GEMM peak that benchmarks report model FLOPs utilisation against. Runs
/// on the JS thread (a benchmark call, not for use while other work is pending).
#[napi_derive::napi(js_name = "matmulPeakFlops")]
pub fn matmul_peak_flops(n: u32, repeats: u32) -> napi::Result<f64> {
    errors::guard(|| {
        lgpo_core::peak::matmul_flops(&candle_core::Device::Cpu, n as usize, repeats as usize)
            .map_err(errors::core_error)
    })
}
