//! Where the time of one generation goes: the phases of `generate_timed` (prefill, decode-step
//! layers, LM head, sampling, cache copies) for a batch of random prompts on a random model, after
//! one warm-up generation. Every row runs to the same length (no stop id).
//!
//! Run: `cargo run --release -p lgpo-core --example generate_profile [-- CONFIG [ROWS [PROMPT [NEW]]]]`
//! (default: the Qwen2.5-0.5B config in ../shared/data/qwen2.5/configs/ with 2 layers, 64 rows,
//! 64-token prompts, 64 new tokens). Runs under `perf record` as is, for a finer split.

use std::path::PathBuf;

use candle_core::{DType, Device};
use lgpo_core::generate::{generate_timed, SamplingParams};
use lgpo_core::model::{Qwen2, Qwen2Config};
use lgpo_core::rng::SplitMix64;

// lgpo's allocator, as in the Node addon (lgpo_core::allocator).
#[global_allocator]
static ALLOC: lgpo_core::allocator::Allocator = lgpo_core::allocator::Allocator;

fn arg(i: usize, default: usize) -> usize {
    std::env::args().nth(i).map_or(default, |a| a.parse().expect("a positive integer"))
}

fn main() -> lgpo_core::Result<()> {
    lgpo_core::allocator::keep_freed_memory();
    let path = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/qwen2.5/configs/Qwen2.5-0.5B-Instruct.config.json")
    });
    let (rows, prompt_len, new_tokens) = (arg(2, 64), arg(3, 64), arg(4, 64));
    let config = Qwen2Config::from_file(&path)?.with_layers(2);
    let model = Qwen2::random(config, 0, &Device::Cpu, DType::F32)?;
    let mut rng = SplitMix64::new(1);
    let vocab = model.config().vocab_size.min(151_643) as u64;
    let prompts: Vec<Vec<u32>> =
        (0..rows).map(|_| (0..prompt_len).map(|_| (rng.next_u64() % vocab) as u32).collect()).collect();
    let params = SamplingParams { max_new_tokens: new_tokens, seed: 2, ..SamplingParams::default() };
    generate_timed(&model, &prompts, &params)?; // warm-up
    let (_, t) = generate_timed(&model, &prompts, &params)?;
    let total = t.total();
    println!(
        "{} ({} layers), {rows} rows x ({prompt_len} prompt + {new_tokens} new) tokens, {} threads: {total:.3} s, {:.0} new tokens/s",
        path.display(),
        model.config().num_hidden_layers,
        lgpo_core::compute_threads(),
        (rows * new_tokens) as f64 / total
    );
    let (steps, draws) = (t.steps.max(1) as f64, (t.steps + 1) as f64);
    for (phase, seconds, per) in [
        ("prefill", t.prefill, None),
        ("replicate", t.replicate, None),
        ("decode layers", t.layers, Some(steps)),
        ("decode LM head", t.lm_head, Some(steps)),
        ("sampling", t.sampling, Some(draws)),
        ("compaction", t.compaction, None),
    ] {
        let step = per.map_or(String::new(), |n| format!("  ({:.1} ms per step)", 1e3 * seconds / n));
        println!("  {phase:<15} {seconds:8.3} s  {:5.1}%{step}", 100.0 * seconds / total);
    }
    Ok(())
}
