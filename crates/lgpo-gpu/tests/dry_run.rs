//! The GPU check's plumbing on the CPU: `scripts/gpu/check.sh --cpu-dry-run` with this crate's
//! binary (every step, the JSON files, the summary), and the library's checks and benchmark
//! directly.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device};
use lgpo_gpu::bench::{self, BenchOptions};
use lgpo_gpu::memory::{self, MemoryOptions};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn check_script_runs_every_step_on_the_cpu() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(repo_root().join("scripts/gpu/check.sh"))
        .arg("--cpu-dry-run")
        .arg(out.path())
        .env("LGPO_GPU_BIN", env!("CARGO_BIN_EXE_lgpo-gpu"))
        .env("PYTHON", "python-that-does-not-exist") // the peer is skipped without torch
        .output()
        .unwrap();
    let log = std::fs::read_to_string(out.path().join("run.log")).unwrap_or_default();
    assert!(status.status.success(), "check.sh failed:\n{log}");
    for step in ["== info", "== check", "SKIPPED nccl", "== bench", "== memory", "== summary", "SKIPPED peer"] {
        assert!(log.contains(step), "run.log lacks `{step}`:\n{log}");
    }
    let check = json(&out.path().join("check.json"));
    assert_eq!(check["passed"], true);
    assert!(check["results"].as_array().unwrap().len() > 40);
    let bench = json(&out.path().join("bench.json"));
    assert!(bench["train"]["tokens_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(bench["generation"]["complete"], true);
    let memory = json(&out.path().join("memory.json"));
    let runs = memory["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|r| r["error"].is_null() && r["peak_bytes"].as_u64().unwrap() > 0), "{memory}");
    let summary = json(&out.path().join("summary.json"));
    assert_eq!(summary["checks_passed"], true);
    assert!(log.contains("| training step, s |"), "{log}");
    let files = std::fs::read_dir(out.path()).unwrap().count();
    assert!(files <= 8, "{files} files: a GPU lease brings back at most 8");
}

/// Without the `nccl` feature the NCCL check says so (the probe check.sh asks, and the command).
#[test]
fn nccl_check_needs_its_feature() {
    let bin = env!("CARGO_BIN_EXE_lgpo-gpu");
    let probe = Command::new(bin).args(["nccl", "--probe"]).output().unwrap();
    assert_eq!(probe.status.success(), lgpo_gpu::nccl_check::BUILT);
    if !lgpo_gpu::nccl_check::BUILT {
        let run = Command::new(bin).args(["nccl", "--device", "cpu"]).output().unwrap();
        assert_eq!(run.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&run.stderr).contains("built without the nccl feature"));
    }
}

#[test]
fn benchmark_reports_consistent_numbers() {
    let options = BenchOptions {
        model: "tiny".into(),
        layers: Some(1),
        dtype: DType::F32,
        batch: 4,
        prompt: 6,
        response: 10,
        micro_batch: 3,
        checkpointing: true,
        steps: 2,
        gen_prompts: 2,
        gen_samples: 3,
        gen_prompt_len: 5,
        gen_tokens: 4,
        gen_budget_seconds: 60.0,
        matmul_size: 64,
    };
    let report = bench::run(&Device::Cpu, &options).unwrap();
    let train = &report.train;
    assert_eq!(train.lgpo_step_seconds.len(), 2);
    let tokens = train.tokens_per_second * train.lgpo_median_seconds;
    assert!((tokens - 64.0).abs() < 1e-6, "4 x 16 tokens per step, got {tokens}");
    // Every baseline at N_updates 1 and 4; which ones run an old-log-prob pass.
    let cells: Vec<(usize, &str)> = train.ratios.iter().map(|r| (r.n_updates, r.baseline)).collect();
    assert_eq!(
        cells,
        [1, 4]
            .iter()
            .flat_map(|&n| ["recompute", "skip_first", "rollout_logprobs"].map(|b| (n, b)))
            .collect::<Vec<_>>()
    );
    for r in &train.ratios {
        let passes = r.baseline == "recompute" || (r.baseline == "skip_first" && r.n_updates > 1);
        assert_eq!(r.grpo_old_logprob_median_seconds > 0.0, passes, "{r:?}");
        assert!(r.lgpo_over_grpo > 0.0);
    }
    assert!(train.mfu_datasheet.is_none(), "the CPU has no data-sheet peak");
    let generation = report.generation.unwrap();
    assert_eq!((generation.rows, generation.new_tokens_per_row, generation.complete), (6, 4, true));
    assert!(report.matmul_tflops.unwrap() > 0.0);
}

/// On the CPU, in this process: both variants run and report a peak above the memory in use
/// before the step. (The saving is measured by `lgpo-gpu memory`, one child process per variant.)
#[test]
fn memory_runs_both_variants() {
    let options = MemoryOptions {
        model: "tiny".into(),
        layers: None,
        dtype: "bf16".into(),
        batch: 2,
        micro_batch: 2,
        prompt: 4,
        response: 4,
    };
    for checkpointing in [false, true] {
        let run = memory::measure(&Device::Cpu, &options, checkpointing).unwrap();
        assert!(run.peak_bytes.unwrap() >= run.before_step_bytes.unwrap() && run.step_seconds.unwrap() > 0.0);
    }
}
