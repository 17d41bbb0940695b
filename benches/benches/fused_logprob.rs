//! Fused vs naive per-token log-probs at the Qwen2.5-0.5B LM head: N = 4096 tokens (override
//! with `LGPO_BENCH_TOKENS`), d = 896, V = 151,936, f32, random inputs.
//!
//! - Peak memory: each variant runs once in a child process (this binary re-executed), which
//!   reports its peak RSS (`VmHWM`); `LGPO_BENCH_MEMORY=0` skips this part.
//! - Time (criterion, 10 samples of one iteration): "score" is the no-grad forward (the
//!   old-policy pass); "train" is forward + backward of loss = Σ log-probs with both the hidden
//!   states and the head trainable. The naive path drops its (differentiable) entropy before
//!   the backward, its most frugal use.
//!
//! Run: `cargo bench -p lgpo-benches --bench fused_logprob`

use std::hint::black_box;
use std::time::Duration;

use candle_core::{DType, Device, Tensor, Var};
use criterion::{criterion_group, BenchmarkId, Criterion, SamplingMode};
use lgpo_benches::{measure_in_child, mib, ChildMemory, CHILD_VARIANT};
use lgpo_core::model::LogprobPath;
use lgpo_core::rng::SplitMix64;

const HIDDEN: usize = 896;
const VOCAB: usize = 151_936;
const PATHS: [LogprobPath; 2] = [LogprobPath::Fused, LogprobPath::Naive];

fn tokens() -> usize {
    std::env::var("LGPO_BENCH_TOKENS").ok().and_then(|v| v.parse().ok()).unwrap_or(4096)
}

struct Inputs {
    hidden: Var,     // (N, d), like normed final hidden states
    head: Var,       // (V, d), like an embedding with std 0.02
    targets: Tensor, // (N) u32
}

impl Inputs {
    fn new(n: usize) -> Inputs {
        let mut rng = SplitMix64::new(0);
        let mut normal =
            |len: usize, std: f64| -> Vec<f32> { (0..len).map(|_| (rng.next_normal() * std) as f32).collect() };
        let hidden = Var::from_vec(normal(n * HIDDEN, 1.0), (n, HIDDEN), &Device::Cpu).unwrap();
        let head = Var::from_vec(normal(VOCAB * HIDDEN, 0.02), (VOCAB, HIDDEN), &Device::Cpu).unwrap();
        let targets: Vec<u32> = (0..n).map(|_| (rng.next_u64() % VOCAB as u64) as u32).collect();
        Inputs { hidden, head, targets: Tensor::new(targets, &Device::Cpu).unwrap() }
    }

    /// The no-grad pass: log-probs and entropies read back to the host.
    fn score(&self, path: LogprobPath) -> Vec<f32> {
        let stats = path.token_stats(&self.hidden.as_detached_tensor(), &self.head.as_detached_tensor(), &self.targets);
        let stats = stats.unwrap();
        let mut values: Vec<f32> = stats.logprobs.to_vec1().unwrap();
        values.extend(stats.entropy.to_vec1::<f32>().unwrap());
        values
    }

    /// Forward + backward of Σ log-probs; returns the squared norm of dL/dW.
    fn train(&self, path: LogprobPath) -> f32 {
        let stats = path.token_stats(&self.hidden, &self.head, &self.targets).unwrap();
        let loss = stats.logprobs.sum_all().unwrap();
        drop(stats.entropy);
        let grads = loss.backward().unwrap();
        let dw = grads.get(&self.head).expect("gradient of the head");
        dw.sqr().unwrap().sum_all().unwrap().to_dtype(DType::F32).unwrap().to_scalar().unwrap()
    }
}

fn variants() -> Vec<(String, LogprobPath, bool)> {
    PATHS.iter().flat_map(|&p| [(format!("{p:?}-score"), p, false), (format!("{p:?}-train"), p, true)]).collect()
}

/// In a child process: build the inputs, run one variant once, report the memory.
fn run_child(name: &str) {
    let (_, path, train) = variants().into_iter().find(|(v, _, _)| v == name).expect("known variant");
    let inputs = Inputs::new(tokens());
    let inputs_rss = ChildMemory::start();
    let start = std::time::Instant::now();
    if train {
        black_box(inputs.train(path));
    } else {
        black_box(inputs.score(path));
    }
    eprintln!("{name}: one run (cold) in {:.2} s", start.elapsed().as_secs_f64());
    ChildMemory::report(inputs_rss);
}

fn memory_report() {
    if std::env::var("LGPO_BENCH_MEMORY").as_deref() == Ok("0") {
        return;
    }
    println!("peak RSS, one child process per variant (N = {}, d = {HIDDEN}, V = {VOCAB}, f32):", tokens());
    println!("{:<14} {:>14} {:>14} {:>16}", "variant", "inputs MiB", "peak MiB", "peak - inputs");
    for (name, _, _) in variants() {
        match measure_in_child(&name) {
            Ok(m) => println!(
                "{name:<14} {:>14.0} {:>14.0} {:>16.0}",
                mib(m.inputs_rss),
                mib(m.peak_rss),
                mib(m.peak_rss.saturating_sub(m.inputs_rss))
            ),
            Err(e) => println!("{name:<14} failed: {e}"),
        }
    }
}

fn bench(c: &mut Criterion) {
    let n = tokens();
    let inputs = Inputs::new(n);
    let mut group = c.benchmark_group(format!("token_stats N={n} d={HIDDEN} V={VOCAB}"));
    // One iteration takes seconds: 10 samples of one iteration each.
    group.sample_size(10).sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(1)).measurement_time(Duration::from_secs(1));
    for path in PATHS {
        group.bench_function(BenchmarkId::new("score", format!("{path:?}")), |b| b.iter(|| inputs.score(path)));
        group.bench_function(BenchmarkId::new("train", format!("{path:?}")), |b| b.iter(|| inputs.train(path)));
    }
    group.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Ok(variant) = std::env::var(CHILD_VARIANT) {
        run_child(&variant);
        return;
    }
    memory_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
