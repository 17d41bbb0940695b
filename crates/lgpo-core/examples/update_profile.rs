//! Profiles one optimizer step (a minibatch update) at the `bench step --shape half` geometry: a
//! random 2-layer Qwen2.5-0.5B-shaped model, 4 sequences of 16 prompt + 16 response tokens, LGPO,
//! and prints per step the time of the gradients alone (forward + backward), of an AdamW update
//! alone (on a separate optimizer, with those gradients) and of the whole optimizer step
//! (gradients, norm and clipping, AdamW). Run it under `perf record` to see inside a part. It
//! uses lgpo's allocator (`lgpo_core::allocator`); `MIMALLOC_PURGE_DELAY=10` gives the behaviour
//! of returning memory.
//!
//! Run: `cargo run --release -p lgpo-core --example update_profile [-- config.json [steps]]`
//! (default config: ../shared/data/qwen2.5/configs/Qwen2.5-0.5B-Instruct.config.json).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{DType, Device};
use lgpo_core::model::{Qwen2, Qwen2Config, Sequence};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::optim::{AdamW, AdamWConfig};
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};
use lgpo_core::rng::SplitMix64;

#[global_allocator]
static ALLOC: lgpo_core::allocator::Allocator = lgpo_core::allocator::Allocator;

fn main() -> lgpo_core::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/data/qwen2.5/configs/Qwen2.5-0.5B-Instruct.config.json")
    });
    lgpo_core::allocator::keep_freed_memory();
    let steps: usize = args.next().map(|s| s.parse().expect("steps: a number")).unwrap_or(5);
    let cfg = Qwen2Config::from_file(&path)?.with_layers(2);
    let model = Qwen2::random(cfg, 0, &Device::Cpu, DType::F32)?;
    let vocab = model.config().vocab_size.min(151_643) as u64;
    let mut rng = SplitMix64::new(1);
    let mut ids = |n: usize| (0..n).map(|_| (rng.next_u64() % vocab) as u32).collect::<Vec<_>>();
    let sequences: Vec<Sequence> = (0..4).map(|_| Sequence { prompt: ids(16), response: ids(16) }).collect();
    let minibatch = Minibatch {
        advantages: vec![1.0, -1.0, 0.5, -0.5],
        sequences,
        old_logprobs: None,
        ref_logprobs: None,
        old_is_current: true,
        forced_tokens: None,
    };
    let lgpo = Objective::from_config(&ObjectiveConfig::named("lgpo"))?;
    let mut policy = Policy::new(model, TrainConfig { micro_batch_size: 4, ..TrainConfig::default() })?;
    let params = policy.model().params().to_vec();
    let mut adamw = AdamW::new(&params, AdamWConfig::default())?;
    for step in 0..=steps {
        let start = Instant::now();
        let grads = policy.gradients(&minibatch, &lgpo)?.grads;
        let gradients = start.elapsed().as_secs_f64();
        let start = Instant::now();
        adamw.step(&params, &grads, 0.0)?; // lr 0: the timing without moving the weights
        let update = start.elapsed().as_secs_f64();
        drop(grads);
        let start = Instant::now();
        policy.train_step(&minibatch, &lgpo)?;
        let total = start.elapsed().as_secs_f64();
        let name = if step == 0 { "warm-up".to_string() } else { format!("step {step}") };
        println!("{name}: gradients {gradients:.3} s, AdamW {update:.3} s, optimizer step {total:.3} s");
    }
    Ok(())
}
