//! `lgpo-gpu`: GPU checks and benchmarks of lgpo-core (see the crate docs and docs/gpu.md).
//! Every command writes JSON (`--out`) and prints a short table; exit code 0 when everything
//! passed, 1 when a check failed or a command broke, 2 for bad arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use lgpo_core::device::{parse_device, parse_dtype};
use serde::Serialize;

use lgpo_gpu::report::write_json;
use lgpo_gpu::{bench, checks, device_info, memory, summary};

#[derive(Parser)]
#[command(name = "lgpo-gpu", version, about = "GPU checks and benchmarks of lgpo-core")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cuda")]
    device: String,
    /// Write the result as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Clone)]
struct Shape {
    /// Model shape (random weights): qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-3b or tiny.
    #[arg(long, default_value = "qwen2.5-0.5b")]
    model: String,
    /// Decoder layers (default: the shape's).
    #[arg(long)]
    layers: Option<usize>,
    /// Compute dtype: f32, bf16 or f16 (default: bf16 on CUDA, f32 on CPU).
    #[arg(long)]
    dtype: Option<String>,
    /// Sequences per training step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Sequences per forward/backward.
    #[arg(long, default_value_t = 16)]
    micro_batch: usize,
    /// Prompt tokens per sequence.
    #[arg(long, default_value_t = 128)]
    prompt: usize,
    /// Response tokens per sequence.
    #[arg(long, default_value_t = 384)]
    response: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Describe the device (name, memory, compute capability, data-sheet bf16 peak).
    Info(Common),
    /// Correctness against the CPU: kernels, optimizer, fixture models, generation.
    Check(CheckArgs),
    /// Speed: a training step, LGPO / GRPO, generation, at a full model shape.
    Bench(BenchArgs),
    /// Peak memory of a training step with and without activation checkpointing.
    Memory(MemoryArgs),
    /// The data-parallel gradient all-reduce through NCCL, as a job of one rank (feature `nccl`).
    Nccl(NcclArgs),
    /// Print a shape's config.json (for the PyTorch peer script).
    Config {
        #[arg(long, default_value = "qwen2.5-0.5b")]
        model: String,
        #[arg(long)]
        layers: Option<usize>,
    },
    /// The lgpo / PyTorch table and the targets from a check folder's JSON files.
    Summary {
        /// The folder check.sh wrote.
        dir: PathBuf,
        /// Write the summary as JSON to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args)]
struct CheckArgs {
    #[command(flatten)]
    common: Common,
    /// Folder of the golden fixtures.
    #[arg(long, default_value = "crates/lgpo-core/tests/fixtures")]
    fixtures: PathBuf,
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    shape: Shape,
    /// Activation checkpointing in the training step.
    #[arg(long)]
    checkpointing: bool,
    /// Timed training steps of each objective (after a warm-up step).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Generation prompts (0: skip generation).
    #[arg(long, default_value_t = 64)]
    gen_prompts: usize,
    /// Samples per prompt.
    #[arg(long, default_value_t = 8)]
    gen_samples: usize,
    /// Tokens per prompt.
    #[arg(long, default_value_t = 64)]
    gen_prompt_len: usize,
    /// New tokens per sample.
    #[arg(long, default_value_t = 512)]
    gen_tokens: usize,
    /// Time budget of the generation measurement, seconds.
    #[arg(long, default_value_t = 120.0)]
    gen_budget: f64,
    /// Side of the bf16 matrix product timed as the achievable peak (0: skip).
    #[arg(long, default_value_t = 8192)]
    matmul_size: usize,
}

#[derive(Args)]
struct NcclArgs {
    #[command(flatten)]
    common: Common,
    /// f32 elements of the timed bucket (default: Qwen2.5-0.5B's parameters).
    #[arg(long, default_value_t = 494_032_768)]
    bucket: usize,
    /// Exit 0 when built with the `nccl` feature, 1 otherwise, without opening the device.
    #[arg(long)]
    probe: bool,
}

#[derive(Args)]
struct MemoryArgs {
    #[command(flatten)]
    common: Common,
    #[command(flatten)]
    shape: Shape,
    /// Measure only this variant, in this process (used by the parent run).
    #[arg(long, value_parser = ["full", "checkpointed"])]
    only: Option<String>,
}

fn write(out: &Option<PathBuf>, value: &impl Serialize) -> lgpo_core::Result<()> {
    match out {
        Some(path) => write_json(path, value),
        None => Ok(()),
    }
}

#[derive(Serialize)]
struct CheckReport {
    device: device_info::DeviceInfo,
    passed: bool,
    #[serde(flatten)]
    comparisons: lgpo_gpu::report::Comparisons,
}

fn run(cli: Cli) -> lgpo_core::Result<bool> {
    match cli.command {
        Command::Info(common) => run_info(common),
        Command::Check(args) => run_check(args),
        Command::Bench(args) => run_bench(args),
        Command::Memory(args) => run_memory(args),
        Command::Nccl(args) => run_nccl(args),
        Command::Config { model, layers } => run_config(&model, layers),
        Command::Summary { dir, out } => run_summary(&dir, &out),
    }
}

fn run_info(common: Common) -> lgpo_core::Result<bool> {
    let info = device_info::describe(&parse_device(&common.device)?)?;
    println!("{}", serde_json::to_string_pretty(&info).expect("serialises"));
    write(&common.out, &info)?;
    Ok(true)
}

fn run_check(args: CheckArgs) -> lgpo_core::Result<bool> {
    let device = parse_device(&args.common.device)?;
    let comparisons = checks::run(&device, &args.fixtures)?;
    print!("{}", comparisons.table());
    let report = CheckReport { device: device_info::describe(&device)?, passed: comparisons.all_passed(), comparisons };
    println!(
        "{} of {} checks passed",
        report.comparisons.results.iter().filter(|c| c.passed).count(),
        report.comparisons.results.len()
    );
    write(&args.common.out, &report)?;
    Ok(report.passed)
}

fn run_bench(args: BenchArgs) -> lgpo_core::Result<bool> {
    let device = parse_device(&args.common.device)?;
    let shape = args.shape;
    let options = bench::BenchOptions {
        dtype: parse_dtype(shape.dtype.as_deref(), &device)?,
        model: shape.model,
        layers: shape.layers,
        batch: shape.batch,
        prompt: shape.prompt,
        response: shape.response,
        micro_batch: shape.micro_batch,
        checkpointing: args.checkpointing,
        steps: args.steps.max(1),
        gen_prompts: args.gen_prompts,
        gen_samples: args.gen_samples,
        gen_prompt_len: args.gen_prompt_len,
        gen_tokens: args.gen_tokens,
        gen_budget_seconds: args.gen_budget,
        matmul_size: args.matmul_size,
    };
    let report = bench::run(&device, &options)?;
    println!("{}", serde_json::to_string_pretty(&report.train).expect("serialises"));
    write(&args.common.out, &report)?;
    Ok(true)
}

fn run_memory(args: MemoryArgs) -> lgpo_core::Result<bool> {
    let (common, shape) = (args.common, args.shape);
    let options = memory::MemoryOptions {
        dtype: shape.dtype.unwrap_or_else(|| memory::default_dtype(&common.device).to_string()),
        model: shape.model,
        layers: shape.layers,
        batch: shape.batch,
        micro_batch: shape.micro_batch,
        prompt: shape.prompt,
        response: shape.response,
    };
    if let Some(only) = args.only {
        let result = memory::measure(&parse_device(&common.device)?, &options, only == "checkpointed")?;
        println!("{}", serde_json::to_string(&result).expect("serialises"));
        return Ok(true);
    }
    // The parent does not open the device: the children measure it alone.
    let report = memory::run(&common.device, &options)?;
    for r in &report.runs {
        let gib = |b: Option<u64>| b.map_or("-".into(), |b| format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64));
        println!(
            "checkpointing {:<5}  before the step {:>10}  peak {:>10}  {}",
            r.checkpointing,
            gib(r.before_step_bytes),
            gib(r.peak_bytes),
            r.error.as_deref().unwrap_or("ok")
        );
    }
    write(&common.out, &report)?;
    Ok(report.runs.iter().any(|r| r.checkpointing && r.error.is_none()))
}

fn run_nccl(args: NcclArgs) -> lgpo_core::Result<bool> {
    if args.probe {
        return Ok(lgpo_gpu::nccl_check::BUILT);
    }
    let report = lgpo_gpu::nccl_check::run(&parse_device(&args.common.device)?, args.bucket)?;
    print!("{}", report.checks.table());
    let gb = report.bucket_elements as f64 * 4.0 / 1e9;
    println!("all-reduce of {gb:.2} GB over {} rank(s): {:.4} s", report.ranks, report.all_reduce_s);
    write(&args.common.out, &report)?;
    Ok(report.checks.all_passed())
}

fn run_config(model: &str, layers: Option<usize>) -> lgpo_core::Result<bool> {
    let mut cfg = lgpo_gpu::shapes::by_name(model)?;
    if let Some(layers) = layers {
        cfg = cfg.with_layers(layers);
    }
    println!("{}", serde_json::to_string_pretty(&cfg).expect("serialises"));
    Ok(true)
}

fn run_summary(dir: &std::path::Path, out: &Option<PathBuf>) -> lgpo_core::Result<bool> {
    let summary = summary::summarize(dir)?;
    print!("{}", summary::markdown(&summary));
    write(out, &summary)?;
    Ok(true)
}

#[global_allocator]
static ALLOC: lgpo_core::allocator::Allocator = lgpo_core::allocator::Allocator;

fn main() -> ExitCode {
    lgpo_core::allocator::keep_freed_memory();
    let cli = Cli::parse();
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("lgpo-gpu: {e}");
            ExitCode::from(if matches!(e, lgpo_core::Error::Input(_)) { 2 } else { 1 })
        }
    }
}
