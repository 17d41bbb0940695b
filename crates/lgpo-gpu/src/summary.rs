//! The side-by-side table of a GPU check: lgpo against PyTorch + transformers on the same GPU,
//! and the targets, from the JSON files the other steps wrote into one folder.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use lgpo_core::Result;

/// The targets a GPU run is held to.
pub const TARGET_MFU: f64 = 0.35;
pub const TARGET_GENERATION_SPEEDUP: f64 = 3.0;

#[derive(Debug, Serialize)]
pub struct Target {
    pub name: String,
    /// The measured value, when both sides of it were measured.
    pub value: Option<f64>,
    pub goal: String,
    pub met: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub device: Option<String>,
    pub checks_passed: Option<bool>,
    pub rows: Vec<(String, Option<f64>, Option<f64>)>,
    pub targets: Vec<Target>,
}

fn read(dir: &Path, file: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    serde_json::from_str(&text).ok()
}

fn num(v: &Option<Value>, path: &[&str]) -> Option<f64> {
    let mut cur = v.as_ref()?;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_f64()
}

/// LGPO / GRPO at `n` updates against `baseline`, from bench.json's `train.ratios`.
fn step_ratio(bench: &Option<Value>, n: u64, baseline: &str) -> Option<f64> {
    bench.as_ref()?.pointer("/train/ratios")?.as_array()?.iter().find_map(|r| {
        let hit = r.get("n_updates")?.as_u64()? == n && r.get("baseline")?.as_str()? == baseline;
        if hit {
            r.get("lgpo_over_grpo")?.as_f64()
        } else {
            None
        }
    })
}

/// Reads `check.json`, `bench.json`, `peer.json` and `memory.json` from `dir` (whichever exist).
pub fn summarize(dir: &Path) -> Result<Summary> {
    let (check, bench, peer, memory) =
        (read(dir, "check.json"), read(dir, "bench.json"), read(dir, "peer.json"), read(dir, "memory.json"));
    let checks_passed = check.as_ref().and_then(|c| c.get("passed")).and_then(Value::as_bool);
    let device = bench.as_ref().and_then(|b| b.pointer("/device/name")).and_then(Value::as_str).map(String::from);
    let ours_step = num(&bench, &["train", "lgpo_median_seconds"]);
    let peer_step = num(&peer, &["train", "median_seconds"]);
    let ours_gen = num(&bench, &["generation", "tokens_per_second"]);
    let peer_gen = num(&peer, &["generation", "tokens_per_second"]);
    let mfu = num(&bench, &["train", "mfu_datasheet"]);
    // The peer did the same work: the same model FLOPs per step.
    let flops = num(&bench, &["train", "model_flops"]);
    let peer_tflops = flops.zip(peer_step).map(|(f, t)| f / t / 1e12);
    let peak = num(&bench, &["device", "datasheet_bf16_flops"]);
    let rows = vec![
        ("training step, s".to_string(), ours_step, peer_step),
        (
            "training tokens/s".to_string(),
            num(&bench, &["train", "tokens_per_second"]),
            num(&peer, &["train", "tokens_per_second"]),
        ),
        ("achieved TFLOP/s".to_string(), num(&bench, &["train", "achieved_tflops"]), peer_tflops),
        ("MFU (data-sheet bf16 peak)".to_string(), mfu, peer_tflops.zip(peak).map(|(t, p)| t * 1e12 / p)),
        (
            "peak memory, GiB".to_string(),
            num(&bench, &["train", "peak_memory_bytes"]).map(gib),
            num(&peer, &["train", "peak_memory_bytes"]).map(gib),
        ),
        ("LGPO / GRPO(skip_first) step time, N_updates 4".to_string(), step_ratio(&bench, 4, "skip_first"), None),
        ("LGPO / GRPO(recompute) step time, N_updates 4".to_string(), step_ratio(&bench, 4, "recompute"), None),
        ("generation tokens/s".to_string(), ours_gen, peer_gen),
    ];
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let checkpointed_fits = memory.as_ref().and_then(|m| m.get("runs")).and_then(Value::as_array).map(|runs| {
        runs.iter()
            .any(|r| r.get("checkpointing") == Some(&Value::Bool(true)) && r.get("error").is_none_or(Value::is_null))
    });
    let targets = vec![
        Target { name: "correctness checks".into(), value: None, goal: "all pass".into(), met: checks_passed },
        Target {
            name: "training-step MFU".into(),
            value: mfu,
            goal: format!(">= {TARGET_MFU}"),
            met: mfu.map(|m| m >= TARGET_MFU),
        },
        Target {
            name: "training step time lgpo / PyTorch".into(),
            value: ratio(ours_step, peer_step),
            goal: "<= 1".into(),
            met: ratio(ours_step, peer_step).map(|r| r <= 1.0),
        },
        Target {
            name: "generation tokens/s lgpo / transformers".into(),
            value: ratio(ours_gen, peer_gen),
            goal: format!(">= {TARGET_GENERATION_SPEEDUP}"),
            met: ratio(ours_gen, peer_gen).map(|r| r >= TARGET_GENERATION_SPEEDUP),
        },
        Target {
            name: "checkpointed step of the memory run fits".into(),
            value: None,
            goal: "no error".into(),
            met: checkpointed_fits,
        },
    ];
    Ok(Summary { device, checks_passed, rows, targets })
}

fn gib(bytes: f64) -> f64 {
    bytes / (1u64 << 30) as f64
}

/// The summary as a Markdown table (for the console and docs/gpu.md).
pub fn markdown(summary: &Summary) -> String {
    let cell = |v: Option<f64>| {
        v.map_or("-".to_string(), |v| if v.abs() >= 100.0 { format!("{v:.0}") } else { format!("{v:.3}") })
    };
    let mut out = format!("device: {}\n\n", summary.device.as_deref().unwrap_or("unknown"));
    out += "| measure | lgpo | PyTorch + transformers |\n|---|---|---|\n";
    for (name, ours, peer) in &summary.rows {
        out += &format!("| {name} | {} | {} |\n", cell(*ours), cell(*peer));
    }
    out += "\n| target | value | goal | met |\n|---|---|---|---|\n";
    for t in &summary.targets {
        let met = t.met.map_or("not measured", |m| if m { "yes" } else { "NO" });
        out += &format!("| {} | {} | {} | {met} |\n", t.name, cell(t.value), t.goal);
    }
    out
}
