//! Peak memory of one training step with and without activation checkpointing. Each variant runs
//! in a child process (this binary again), so the two do not share an allocator's retained memory
//! and an out-of-memory failure of one is reported, not fatal.

use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device};
use serde::{Deserialize, Serialize};

use lgpo_core::device::dtype_name;
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};
use lgpo_core::Result;

use crate::bench::{random_model, random_sequences};
use crate::device_info::{peak_memory, reset_peak_memory};

/// The step to measure: `batch` sequences of `prompt` + `response` tokens, `micro_batch` per
/// forward/backward, one LGPO optimizer step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryOptions {
    pub model: String,
    pub layers: Option<usize>,
    pub dtype: String,
    pub batch: usize,
    pub micro_batch: usize,
    pub prompt: usize,
    pub response: usize,
}

/// One variant's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryRun {
    pub checkpointing: bool,
    /// Memory in use before the step: weights, AdamW state and f32 masters (GPU: the memory
    /// pool's use; CPU: the resident set).
    pub before_step_bytes: Option<u64>,
    /// Peak during the step.
    pub peak_bytes: Option<u64>,
    pub step_seconds: Option<f64>,
    /// Why the variant failed (e.g. out of memory), if it did.
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct MemoryReport {
    pub device: String,
    pub options: MemoryOptions,
    pub runs: Vec<MemoryRun>,
}

/// Measures one variant in this process.
pub fn measure(device: &Device, options: &MemoryOptions, checkpointing: bool) -> Result<MemoryRun> {
    let dtype = lgpo_core::device::parse_dtype(Some(&options.dtype), device)?;
    let mut cfg = crate::shapes::by_name(&options.model)?;
    if let Some(layers) = options.layers {
        cfg = cfg.with_layers(layers);
    }
    let vocab = cfg.vocab_size;
    let model = random_model(cfg, device, dtype)?;
    let config = TrainConfig {
        micro_batch_size: options.micro_batch,
        activation_checkpointing: checkpointing,
        ..TrainConfig::default()
    };
    let mut policy = Policy::new(model, config)?;
    let sequences = random_sequences(options.batch, options.prompt, options.response, vocab, 4);
    let advantages = (0..options.batch).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
    let minibatch = Minibatch { sequences, advantages, ..Minibatch::default() };
    let objective = Objective::from_config(&ObjectiveConfig::named("lgpo"))?;
    reset_peak_memory(device)?;
    let before = peak_memory(device)?;
    let start = Instant::now();
    policy.train_minibatch(&minibatch, &objective)?;
    device.synchronize()?;
    let seconds = start.elapsed().as_secs_f64();
    Ok(MemoryRun {
        checkpointing,
        before_step_bytes: Some(before),
        peak_bytes: Some(peak_memory(device)?),
        step_seconds: Some(seconds),
        error: None,
    })
}

/// Runs both variants, each in a child process `lgpo-gpu memory --only ...` with `device_name`.
pub fn run(device_name: &str, options: &MemoryOptions) -> Result<MemoryReport> {
    let exe = std::env::current_exe().map_err(|source| lgpo_core::Error::Io { path: "current_exe".into(), source })?;
    let mut runs = Vec::new();
    for checkpointing in [false, true] {
        let mut command = Command::new(&exe);
        command.args(["memory", "--device", device_name, "--model", &options.model, "--dtype", &options.dtype]);
        for (flag, value) in [
            ("--batch", options.batch),
            ("--micro-batch", options.micro_batch),
            ("--prompt", options.prompt),
            ("--response", options.response),
        ] {
            command.args([flag, &value.to_string()]);
        }
        if let Some(layers) = options.layers {
            command.args(["--layers", &layers.to_string()]);
        }
        command.args(["--only", if checkpointing { "checkpointed" } else { "full" }]);
        eprintln!("lgpo-gpu memory: step with checkpointing {checkpointing} in a child process");
        let output = command.output().map_err(|source| lgpo_core::Error::Io { path: exe.clone(), source })?;
        let parsed: Option<MemoryRun> = serde_json::from_slice(&output.stdout).ok();
        runs.push(match parsed {
            Some(run) if output.status.success() => run,
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
                MemoryRun {
                    checkpointing,
                    before_step_bytes: None,
                    peak_bytes: None,
                    step_seconds: None,
                    error: Some(format!("{} ({})", last.trim(), output.status)),
                }
            }
        });
    }
    Ok(MemoryReport { device: device_name.to_string(), options: options.clone(), runs })
}

/// The name of the default compute dtype on the device called `device_name` (f32 on the CPU,
/// bf16 on CUDA), without opening the device.
pub fn default_dtype(device_name: &str) -> &'static str {
    dtype_name(if device_name == "cpu" { DType::F32 } else { DType::BF16 })
}
