//! Speed on a device at a model's full shape with random weights: a training step (time,
//! tokens/s, model FLOP utilisation), the LGPO / GRPO step ratio, batched generation, and the
//! measured bf16 matrix-product rate MFU is also reported against.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use serde::Serialize;

use lgpo_core::device::dtype_name;
use lgpo_core::generate::{generate, SamplingParams};
use lgpo_core::model::{ParamSource, Qwen2, Qwen2Config, Sequence};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::policy::{OldLogprobSource, Policy, Rollout, TrainConfig};
use lgpo_core::rng::SplitMix64;
use lgpo_core::Result;

use crate::device_info::{describe, peak_memory, reset_peak_memory, DeviceInfo};
use crate::shapes::train_step_flops;

/// What to measure.
#[derive(Debug, Clone, Serialize)]
pub struct BenchOptions {
    /// Shape name ([`crate::shapes::NAMES`]).
    pub model: String,
    /// Decoder layers (default: the shape's).
    pub layers: Option<usize>,
    #[serde(serialize_with = "serialize_dtype")]
    pub dtype: DType,
    /// Sequences per training step, of `prompt` + `response` tokens.
    pub batch: usize,
    pub prompt: usize,
    pub response: usize,
    /// Sequences per forward/backward.
    pub micro_batch: usize,
    pub checkpointing: bool,
    /// Timed training steps (after one warm-up step) of each objective.
    pub steps: usize,
    /// Generation: prompts × samples rows of `gen_prompt_len` tokens, `gen_tokens` new tokens.
    pub gen_prompts: usize,
    pub gen_samples: usize,
    pub gen_prompt_len: usize,
    pub gen_tokens: usize,
    /// Wall-clock budget of the generation measurement in seconds: when the full run would take
    /// longer, fewer new tokens are generated and the rate is reported for those.
    pub gen_budget_seconds: f64,
    /// Side of the square bf16 matrix product timed as the achievable peak (0: skip).
    pub matmul_size: usize,
}

fn serialize_dtype<S: serde::Serializer>(dtype: &DType, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(dtype_name(*dtype))
}

#[derive(Debug, Serialize)]
pub struct TrainReport {
    /// Seconds of each timed LGPO step at N_updates 1 (one optimizer step over the whole batch).
    pub lgpo_step_seconds: Vec<f64>,
    pub lgpo_median_seconds: f64,
    /// LGPO against GRPO with each old-log-prob baseline, at N_updates 1 and 4, on the same
    /// rollout, cells in alternating order each round (as the CPU `bench step`).
    pub ratios: Vec<StepRatio>,
    /// Training tokens per second of the LGPO step (batch × (prompt + response) / time).
    pub tokens_per_second: f64,
    /// Model FLOPs of one step ([`train_step_flops`]) and the rate achieved.
    pub model_flops: f64,
    pub achieved_tflops: f64,
    /// Achieved rate / data-sheet bf16 peak, and / the measured matrix-product rate.
    pub mfu_datasheet: Option<f64>,
    pub mfu_measured_matmul: Option<f64>,
    /// Peak device memory during a step, bytes.
    pub peak_memory_bytes: u64,
}

/// LGPO's step time over GRPO's for one old-log-prob baseline at one N_updates (medians).
#[derive(Debug, Serialize)]
pub struct StepRatio {
    pub n_updates: usize,
    /// `recompute` (a pass over the whole batch), `skip_first` (the first minibatch on-policy;
    /// the trainer's default) or `rollout_logprobs` (the sampling log-probs, no pass).
    pub baseline: &'static str,
    pub lgpo_median_seconds: f64,
    pub grpo_median_seconds: f64,
    pub grpo_old_logprob_median_seconds: f64,
    pub lgpo_over_grpo: f64,
}

/// The GRPO baselines, with the old-log-prob source each uses.
const BASELINES: [(&str, OldLogprobSource); 3] = [
    ("recompute", OldLogprobSource::Recompute),
    ("skip_first", OldLogprobSource::SkipFirst),
    ("rollout_logprobs", OldLogprobSource::Generation),
];

#[derive(Debug, Serialize)]
pub struct GenerationReport {
    pub rows: usize,
    pub new_tokens_per_row: usize,
    pub seconds: f64,
    /// Generated tokens per second (rows × new tokens / time; prefill included in the time).
    pub tokens_per_second: f64,
    /// Whether all `gen_tokens` were generated (false: the budget cut the run short).
    pub complete: bool,
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub device: DeviceInfo,
    pub options: BenchOptions,
    pub parameters: usize,
    pub model_init_seconds: f64,
    pub matmul_tflops: Option<f64>,
    pub train: TrainReport,
    pub generation: Option<GenerationReport>,
}

/// Random weights drawn on the device itself (N(0, 0.02²) matrices, zero biases, unit norms):
/// a multi-billion-parameter shape initialises in seconds. Not Hugging Face's seeded init.
struct DeviceRandom {
    dtype: DType,
    device: Device,
}

impl ParamSource for DeviceRandom {
    fn tensor(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = if name.ends_with("norm.weight") {
            Tensor::ones(shape, self.dtype, &self.device)?
        } else if name.ends_with(".bias") {
            Tensor::zeros(shape, self.dtype, &self.device)?
        } else {
            Tensor::randn(0f32, 0.02, shape, &self.device)?.to_dtype(self.dtype)?
        };
        Ok(t)
    }
}

/// A model of `cfg` with random weights on `device`.
pub fn random_model(cfg: Qwen2Config, device: &Device, dtype: DType) -> Result<Qwen2> {
    Qwen2::from_source(cfg, &mut DeviceRandom { dtype, device: device.clone() }, device, dtype)
}

/// `n` sequences of random tokens (below the tokenizer's vocabulary) of exact lengths.
pub fn random_sequences(n: usize, prompt: usize, response: usize, vocab: usize, seed: u64) -> Vec<Sequence> {
    let mut rng = SplitMix64::new(seed);
    let vocab = vocab.min(151_643) as u64;
    let mut ids = |len: usize| (0..len).map(|_| (rng.next_u64() % vocab) as u32).collect::<Vec<_>>();
    (0..n).map(|_| Sequence { prompt: ids(prompt), response: ids(response) }).collect()
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Seconds of `run`, the device synchronised before and after.
fn timed<T>(device: &Device, run: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    device.synchronize()?;
    let start = Instant::now();
    let out = run()?;
    device.synchronize()?;
    Ok((start.elapsed().as_secs_f64(), out))
}

/// The rate of a `size`³ bf16 matrix product (median of 10 after 3 warm-ups), in TFLOP/s.
pub fn matmul_tflops(device: &Device, size: usize) -> Result<f64> {
    let a = Tensor::randn(0f32, 1.0, (size, size), device)?.to_dtype(DType::BF16)?;
    let b = Tensor::randn(0f32, 1.0, (size, size), device)?.to_dtype(DType::BF16)?;
    let mut times = Vec::new();
    for i in 0..13 {
        let (t, _) = timed(device, || Ok(a.matmul(&b)?))?;
        if i >= 3 {
            times.push(t);
        }
    }
    Ok(2.0 * (size as f64).powi(3) / median(&times) / 1e12)
}

/// Runs the benchmark on `device`.
pub fn run(device: &Device, options: &BenchOptions) -> Result<BenchReport> {
    let info = describe(device)?;
    let mut cfg = crate::shapes::by_name(&options.model)?;
    if let Some(layers) = options.layers {
        cfg = cfg.with_layers(layers);
    }
    let matmul = (options.matmul_size > 0).then(|| matmul_tflops(device, options.matmul_size)).transpose()?;
    eprintln!("lgpo-gpu bench: {} on {}, {}", options.model, info.name, dtype_name(options.dtype));
    let (init, model) = timed(device, || random_model(cfg.clone(), device, options.dtype))?;
    let parameters = model.params().iter().map(|(_, v)| v.elem_count()).sum();
    let config = TrainConfig {
        micro_batch_size: options.micro_batch,
        activation_checkpointing: options.checkpointing,
        ..TrainConfig::default()
    };
    let mut policy = Policy::new(model, config)?;
    let train = train(device, &mut policy, options, &cfg, &info, matmul)?;
    eprintln!(
        "lgpo-gpu bench: training step {:.3} s, {:.0} tokens/s",
        train.lgpo_median_seconds, train.tokens_per_second
    );
    for r in &train.ratios {
        eprintln!("lgpo-gpu bench: N_updates {} LGPO / GRPO({}) {:.3}", r.n_updates, r.baseline, r.lgpo_over_grpo);
    }
    let generation = (options.gen_prompts > 0).then(|| generation(device, policy.model(), options)).transpose()?;
    if let Some(g) = &generation {
        eprintln!(
            "lgpo-gpu bench: generation {:.0} tokens/s ({} rows x {} tokens)",
            g.tokens_per_second, g.rows, g.new_tokens_per_row
        );
    }
    Ok(BenchReport {
        device: info,
        options: options.clone(),
        parameters,
        model_init_seconds: init,
        matmul_tflops: matmul,
        train,
        generation,
    })
}

fn train(
    device: &Device,
    policy: &mut Policy,
    options: &BenchOptions,
    cfg: &Qwen2Config,
    info: &DeviceInfo,
    matmul_tflops: Option<f64>,
) -> Result<TrainReport> {
    let sequences = random_sequences(options.batch, options.prompt, options.response, cfg.vocab_size, 1);
    // Advantages ±1: no sequence is skipped. The LGPO gate (τ = −0.15) passes every sequence of a
    // random model (mean log-prob ≈ −ln V), so both objectives backpropagate through all of them.
    let advantages = (0..options.batch).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    // The sampling log-probs of baseline (c), standing in for generation's: the model's own scores.
    let sampled = policy.score(&sequences, options.micro_batch)?.into_iter().map(|s| s.logprobs).collect();
    let rollout = Rollout { sequences, advantages, generation_logprobs: Some(sampled), ref_logprobs: None };
    let lgpo = Objective::from_config(&ObjectiveConfig::named("lgpo"))?;
    let grpo = Objective::from_config(&ObjectiveConfig::named("grpo"))?;
    let mut peak = 0;
    let mut ratios = Vec::new();
    let mut lgpo_one_update = Vec::new();
    for n in [1, 4].into_iter().filter(|n| options.batch.is_multiple_of(*n)) {
        // Cell 0 is LGPO, cells 1-3 GRPO with each baseline; per cell, step and old-pass seconds.
        let mut times: Vec<Vec<(f64, f64)>> = vec![Vec::new(); 1 + BASELINES.len()];
        // Round 0 warms up; every other round runs the cells in reverse, so that no cell always
        // runs first or after the same one (machine drift and caches hit them alike).
        for round in 0..=options.steps {
            let mut order: Vec<usize> = (0..times.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for cell in order {
                let (objective, source) =
                    if cell == 0 { (&lgpo, OldLogprobSource::Recompute) } else { (&grpo, BASELINES[cell - 1].1) };
                reset_peak_memory(device)?;
                let (t, report) = timed(device, || policy.train_rollout(&rollout, objective, n, source))?;
                if cell == 0 {
                    peak = peak.max(peak_memory(device)?);
                }
                if round > 0 {
                    times[cell].push((t, report.old_logprob_seconds));
                }
            }
            eprintln!("lgpo-gpu bench: n_updates {n} round {round} done");
        }
        let step = |cell: usize| median(&times[cell].iter().map(|x| x.0).collect::<Vec<_>>());
        let lgpo_median = step(0);
        if n == 1 {
            lgpo_one_update = times[0].iter().map(|x| x.0).collect();
        }
        for (i, (baseline, _)) in BASELINES.iter().enumerate() {
            let grpo_median = step(i + 1);
            ratios.push(StepRatio {
                n_updates: n,
                baseline,
                lgpo_median_seconds: lgpo_median,
                grpo_median_seconds: grpo_median,
                grpo_old_logprob_median_seconds: median(&times[i + 1].iter().map(|x| x.1).collect::<Vec<_>>()),
                lgpo_over_grpo: lgpo_median / grpo_median,
            });
        }
    }
    let lgpo_median = median(&lgpo_one_update);
    let flops = train_step_flops(cfg, options.batch, options.prompt, options.response);
    let achieved = flops / lgpo_median;
    Ok(TrainReport {
        lgpo_step_seconds: lgpo_one_update,
        lgpo_median_seconds: lgpo_median,
        ratios,
        tokens_per_second: (options.batch * (options.prompt + options.response)) as f64 / lgpo_median,
        model_flops: flops,
        achieved_tflops: achieved / 1e12,
        mfu_datasheet: info.datasheet_bf16_flops.map(|peak| achieved / peak),
        mfu_measured_matmul: matmul_tflops.map(|peak| achieved / (peak * 1e12)),
        peak_memory_bytes: peak,
    })
}

/// Samples `gen_samples` continuations of each of `gen_prompts` random prompts in one batch,
/// temperature 1, no stop token (every row runs the full length). A short run first estimates
/// the time per new token; the full run is cut to what fits the budget.
fn generation(device: &Device, model: &Qwen2, options: &BenchOptions) -> Result<GenerationReport> {
    let prompts: Vec<Vec<u32>> =
        random_sequences(options.gen_prompts, options.gen_prompt_len, 0, model.config().vocab_size, 2)
            .into_iter()
            .flat_map(|s| std::iter::repeat_n(s.prompt, options.gen_samples))
            .collect();
    let rows = prompts.len();
    let run = |tokens: usize| -> Result<f64> {
        let params = SamplingParams { max_new_tokens: tokens, seed: 3, ..SamplingParams::default() };
        let (seconds, out) = timed(device, || generate(model, &prompts, &params))?;
        debug_assert!(out.iter().all(|g| g.tokens.len() == tokens));
        Ok(seconds)
    };
    let probe = options.gen_tokens.min(8);
    let probe_seconds = run(probe)?;
    let per_token = probe_seconds / probe as f64;
    let fits = ((options.gen_budget_seconds / per_token) as usize).clamp(probe, options.gen_tokens);
    let tokens =
        if per_token * options.gen_tokens as f64 <= options.gen_budget_seconds { options.gen_tokens } else { fits };
    let seconds = if tokens == probe { probe_seconds } else { run(tokens)? };
    Ok(GenerationReport {
        rows,
        new_tokens_per_row: tokens,
        seconds,
        tokens_per_second: (rows * tokens) as f64 / seconds,
        complete: tokens == options.gen_tokens,
    })
}
