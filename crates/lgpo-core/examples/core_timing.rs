//! Times the core's heavy calls on CPU: one training forward + backward, generating 64 tokens for
//! a batch of 16, and one minibatch update with LGPO and with GRPO (whose old-log-prob pass is
//! included), on the tiny test config and on a 2-layer Qwen2.5-0.5B-shaped model with random
//! weights.
//!
//! Run: `cargo run --release -p lgpo-core --example core_timing [-- path/to/Qwen2.5-0.5B-Instruct.config.json]`
//! (default config path: ../shared/data/qwen2.5/configs/ beside the repository).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device};
use lgpo_core::generate::{generate, SamplingParams};
use lgpo_core::model::{Grad, Qwen2, Qwen2Config, Sequence, SequenceBatch};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::policy::{OldLogprobSource, Policy, Rollout, TrainConfig};
use lgpo_core::rng::SplitMix64;

// lgpo's allocator, as in the Node addon (lgpo_core::allocator).
#[global_allocator]
static ALLOC: lgpo_core::allocator::Allocator = lgpo_core::allocator::Allocator;

const BATCH: usize = 16;
const PROMPT: usize = 64;
const RESPONSE: usize = 64;
const REPEATS: usize = 3;
const UPDATE_REPEATS: usize = 5;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_seconds(mut run: impl FnMut()) -> f64 {
    run(); // warm-up
    median(
        (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                run();
                start.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

fn random_ids(rng: &mut SplitMix64, n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|_| (rng.next_u64() % vocab as u64) as u32).collect()
}

fn time_model(name: &str, cfg: Qwen2Config) -> lgpo_core::Result<()> {
    let model = Qwen2::random(cfg, 0, &Device::Cpu, DType::F32)?;
    let vocab = model.config().vocab_size.min(151_643);
    let mut rng = SplitMix64::new(1);
    let sequences: Vec<Sequence> = (0..BATCH)
        .map(|_| Sequence {
            prompt: random_ids(&mut rng, PROMPT, vocab),
            response: random_ids(&mut rng, RESPONSE, vocab),
        })
        .collect();
    let batch = SequenceBatch::new(&sequences, model.config().vocab_size, &Device::Cpu)?;
    let train = median_seconds(|| {
        let stats = model.response_stats(&batch, Grad::Track).unwrap();
        let loss = (stats.logprobs * &batch.response_mask).unwrap().sum_all().unwrap();
        loss.backward().unwrap();
    });
    let prompts: Vec<Vec<u32>> = sequences.iter().map(|s| s.prompt[..16].to_vec()).collect();
    let params = SamplingParams { max_new_tokens: 64, seed: 2, ..SamplingParams::default() };
    let gen = median_seconds(|| {
        generate(&model, &prompts, &params).unwrap();
    });
    println!(
        "{name:<34} forward+backward ({BATCH} x {} tokens): {train:7.3} s   generate 64 tokens x {BATCH} rows: {gen:7.3} s",
        PROMPT + RESPONSE
    );

    // One minibatch update (one rollout batch, N_updates = 1), micro-batches of 8, no sequence
    // skipped (every advantage non-zero).
    let rollout = Rollout {
        advantages: (0..BATCH).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect(),
        sequences,
        generation_logprobs: None,
        ref_logprobs: None,
    };
    let mut policy = Policy::new(model, TrainConfig { micro_batch_size: 8, ..TrainConfig::default() })?;
    let lgpo = Objective::from_config(&ObjectiveConfig::named("lgpo"))?;
    let grpo = Objective::from_config(&ObjectiveConfig::named("grpo"))?;
    // Interleaved, so drift of the machine's speed affects both alike; one warm-up each.
    let (mut lgpo_times, mut grpo_times, mut grpo_old) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=UPDATE_REPEATS {
        let start = Instant::now();
        policy.train_rollout(&rollout, &lgpo, 1, OldLogprobSource::Recompute)?;
        let lgpo_time = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let report = policy.train_rollout(&rollout, &grpo, 1, OldLogprobSource::Recompute)?;
        if round > 0 {
            lgpo_times.push(lgpo_time);
            grpo_times.push(start.elapsed().as_secs_f64());
            grpo_old.push(report.old_logprob_seconds);
        }
    }
    let (lgpo, grpo, grpo_old) = (median(lgpo_times), median(grpo_times), median(grpo_old));
    println!(
        "{name:<34} minibatch update ({BATCH} x {} tokens, median of {UPDATE_REPEATS}): lgpo {lgpo:7.3} s   grpo {grpo:7.3} s (old log-prob pass {grpo_old:.3} s)   lgpo saves {:.1}%",
        PROMPT + RESPONSE,
        100.0 * (1.0 - lgpo / grpo)
    );
    Ok(())
}

fn main() -> lgpo_core::Result<()> {
    lgpo_core::allocator::keep_freed_memory();
    let tiny =
        Qwen2Config::from_file(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_tied/config.json"))?;
    time_model("tiny (d=64, 2 layers, V=128)", tiny)?;
    let path = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/qwen2.5/configs/Qwen2.5-0.5B-Instruct.config.json")
    });
    match Qwen2Config::from_file(&path) {
        Ok(cfg) => time_model("Qwen2.5-0.5B shape, 2 layers", cfg.with_layers(2))?,
        Err(e) => eprintln!("skipping the Qwen2.5-0.5B shape: {e}"),
    }
    println!("threads: {}", rayon::current_num_threads());
    Ok(())
}
