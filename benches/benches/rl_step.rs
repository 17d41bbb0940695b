//! The pieces of one RL step in the core, on the shipped tiny model's shape (d = 128, 4 layers,
//! heads 4/2, intermediate 384, V = 311; random weights): one minibatch update per objective
//! (LGPO; GRPO with old log-probs given, as after a recompute or from generation; GRPO on the
//! first minibatch, whose old policy is the current one), the old-log-prob pass that LGPO
//! removes, one decode step of a batch, and a whole generation of a batch. 32 sequences of 16
//! prompt + 32 response tokens, micro-batches of 8, every advantage non-zero.
//!
//! Run: `cargo bench -p lgpo-benches --bench rl_step` (`-- --quick` for a fast pass).

use std::hint::black_box;
use std::path::Path;

use candle_core::{DType, Device};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lgpo_core::generate::{generate, Decoder, SamplingParams};
use lgpo_core::model::{Qwen2, Qwen2Config, Sequence};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};
use lgpo_core::rng::SplitMix64;

// lgpo's allocator, as in the Node addon (lgpo_core::allocator).
#[global_allocator]
static ALLOC: lgpo_core::allocator::Allocator = lgpo_core::allocator::Allocator;

const ROWS: usize = 32;
const PROMPT: usize = 16;
const RESPONSE: usize = 32;

const TINY: &str = r#"{"vocab_size": 311, "hidden_size": 128, "intermediate_size": 384, "num_hidden_layers": 4,
  "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512, "rope_theta": 10000.0,
  "rms_norm_eps": 1e-6, "tie_word_embeddings": true}"#;

fn model() -> Qwen2 {
    lgpo_core::allocator::keep_freed_memory();
    let config = Qwen2Config::from_json_str(TINY, Path::new("rl_step.rs")).unwrap();
    Qwen2::random(config, 0, &Device::Cpu, DType::F32).unwrap()
}

fn sequences() -> Vec<Sequence> {
    let mut rng = SplitMix64::new(1);
    let mut ids = |n: usize| -> Vec<u32> { (0..n).map(|_| (rng.next_u64() % 308) as u32).collect() };
    (0..ROWS).map(|_| Sequence { prompt: ids(PROMPT), response: ids(RESPONSE) }).collect()
}

fn updates(c: &mut Criterion) {
    let sequences = sequences();
    let mut policy = Policy::new(model(), TrainConfig { micro_batch_size: 8, ..TrainConfig::default() }).unwrap();
    let advantages: Vec<f32> = (0..ROWS).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    let old = policy.model().score(&sequences, 8).unwrap().into_iter().map(|s| s.logprobs).collect();
    let plain = Minibatch { sequences: sequences.clone(), advantages: advantages.clone(), ..Minibatch::default() };
    let with_old = Minibatch { old_logprobs: Some(old), ..plain.clone() };
    let first = Minibatch { old_is_current: true, ..plain.clone() };
    let lgpo = Objective::from_config(&ObjectiveConfig::named("lgpo")).unwrap();
    let grpo = Objective::from_config(&ObjectiveConfig::named("grpo")).unwrap();

    let mut group = c.benchmark_group("minibatch_update");
    group.sample_size(10);
    group.bench_function("lgpo", |b| b.iter(|| black_box(policy.train_minibatch(&plain, &lgpo).unwrap())));
    group.bench_function("grpo_old_logprobs_given", |b| {
        b.iter(|| black_box(policy.train_minibatch(&with_old, &grpo).unwrap()))
    });
    group.bench_function("grpo_old_is_current", |b| {
        b.iter(|| black_box(policy.train_minibatch(&first, &grpo).unwrap()))
    });
    group.finish();

    let mut group = c.benchmark_group("old_logprob_pass");
    group.sample_size(10);
    group.bench_function("score_rollout_batch", |b| b.iter(|| black_box(policy.model().score(&sequences, 8).unwrap())));
    group.finish();
}

fn generation(c: &mut Criterion) {
    let model = model();
    let prompts: Vec<Vec<u32>> = sequences().into_iter().map(|s| s.prompt).collect();
    let mut group = c.benchmark_group("generate");
    group.sample_size(10);
    group.bench_function("decode_step", |b| {
        b.iter_batched(
            || Decoder::prefill(&model, &prompts, 1).unwrap().0,
            |mut decoder| black_box(decoder.step(&[7; ROWS]).unwrap()),
            BatchSize::LargeInput,
        )
    });
    let params = SamplingParams { max_new_tokens: RESPONSE, seed: 2, ..SamplingParams::default() };
    group.bench_function("whole_batch", |b| b.iter(|| black_box(generate(&model, &prompts, &params).unwrap())));
    group.finish();
}

criterion_group!(benches, updates, generation);
criterion_main!(benches);
