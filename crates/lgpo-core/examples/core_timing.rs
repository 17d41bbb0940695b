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

const BATCH: usize = 16;
const PROMPT: usize = 64;
const RESPONSE: usize = 64;
const REPEATS: usize = 3;

fn median_seconds(mut run: impl FnMut()) -> f64 {
    run(); // warm-up
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[REPEATS / 2]
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
    let mut update = |objective: &str| -> (f64, f64) {
        let objective = Objective::from_config(&ObjectiveConfig::named(objective)).unwrap();
        let mut old = 0.0;
        let total = median_seconds(|| {
            old = policy.train_rollout(&rollout, &objective, 1, OldLogprobSource::Recompute).unwrap().old_logprob_seconds;
        });
        (total, old)
    };
    let (lgpo, _) = update("lgpo");
    let (grpo, grpo_old) = update("grpo");
    println!(
        "{name:<34} minibatch update ({BATCH} x {} tokens): lgpo {lgpo:7.3} s   grpo {grpo:7.3} s (old log-prob pass {grpo_old:.3} s)   lgpo saves {:.1}%",
        PROMPT + RESPONSE,
        100.0 * (1.0 - lgpo / grpo)
    );
    Ok(())
}

fn main() -> lgpo_core::Result<()> {
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
