//! `lgpo-dp-check MODEL_DIR [OBJECTIVE...]`, run under `mpirun -np N`: checks that N ranks, each
//! training on its consecutive slice of every minibatch, take the optimizer steps one process
//! takes on the whole minibatches. The slices are even at the first step, uneven at the second
//! and all on the last rank at the third (the other ranks hold none: what a trainer's uneven
//! split or a minibatch of fewer groups than ranks gives). Every rank also runs the single-process reference itself, then
//! compares gradients, metrics and weights; rank 0 prints one JSON line. Exit code 1 on a mismatch.
//!
//! `lgpo-dp-check --bench STEPS MODEL_DIR` times STEPS LGPO steps on the ranks' shards of
//! 12-sequence minibatches instead: the step and the time in collectives, as JSON from rank 0.
//!
//! Tolerance: the ranks sum the same per-token gradient terms in another order (each rank's
//! micro-batches, then the ranks), so f32 results differ by rounding only: a relative L2 error of
//! the gradient below 1e-5 (f32 epsilon 1.2e-7 times the few hundred terms a parameter sums),
//! metrics within 1e-5 relative, and the weights' change after the AdamW steps within 1e-4
//! relative of the reference's: AdamW divides each gradient element by its own sqrt(v), so an
//! element near the rounding noise moves by a noisy fraction of the learning rate, and three steps
//! compound it (measured 7e-6 on the fixture model).

use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use lgpo_core::comm::mpi::MpiSession;
use lgpo_core::comm::{Communicator, ReduceOp};
use lgpo_core::model::{Qwen2, Sequence};
use lgpo_core::objectives::{GateConfig, Objective, ObjectiveConfig};
use lgpo_core::optim::AdamWConfig;
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};
use lgpo_core::rng::SplitMix64;

const SEQUENCES: usize = 12;
const STEPS: usize = 3;

fn policy(dir: &str) -> lgpo_core::Result<Policy> {
    let model = Qwen2::load(dir, &Device::Cpu, DType::F32)?;
    let optimizer = AdamWConfig { lr: 1e-3, ..AdamWConfig::default() };
    Policy::new(model, TrainConfig { micro_batch_size: 2, optimizer, ..TrainConfig::default() })
}

/// Minibatch `step`: random prompts and responses, advantages with zeros (skipped sequences).
fn minibatch(step: usize) -> Minibatch {
    let mut rng = SplitMix64::new(1000 + step as u64);
    let mut int = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo);
    let mut sequences = Vec::new();
    let mut advantages = Vec::new();
    for _ in 0..SEQUENCES {
        let prompt = (0..int(2, 7)).map(|_| int(0, 128) as u32).collect();
        let response = (0..int(1, 9)).map(|_| int(0, 128) as u32).collect();
        sequences.push(Sequence { prompt, response });
        advantages.push([0.0, 1.0, -1.0, 0.5, -2.0][int(0, 5) as usize]);
    }
    Minibatch { sequences, advantages, old_is_current: true, ..Minibatch::default() }
}

/// Rank `rank`'s consecutive slice of `mb` at `step`: even, then uneven (the first rank a
/// quarter), then everything on the last rank.
fn share(mb: &Minibatch, rank: usize, size: usize, step: usize) -> Minibatch {
    let n = mb.sequences.len();
    // Where rank r > 0 starts (rank 0 starts at 0, the last rank ends at n).
    let start = |r: usize| match step {
        0 => r * n / size,
        1 => n / 4 + (r - 1) * (n - n / 4) / (size - 1),
        _ => 0,
    };
    let first = if rank == 0 { 0 } else { start(rank) };
    let end = if rank + 1 == size { n } else { start(rank + 1) };
    mb.select(&(first..end).collect::<Vec<_>>())
}

fn flat(tensors: &[Tensor]) -> lgpo_core::Result<Vec<f32>> {
    let mut out = Vec::new();
    for t in tensors {
        out.extend(t.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

fn weights(p: &Policy) -> lgpo_core::Result<Vec<f32>> {
    flat(&p.model().params().iter().map(|(_, v)| v.as_tensor().clone()).collect::<Vec<_>>())
}

fn relative_l2(a: &[f32], b: &[f32]) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for (x, y) in a.iter().zip(b) {
        diff += (*x as f64 - *y as f64).powi(2);
        norm += (*y as f64).powi(2);
    }
    (diff / norm.max(1e-30)).sqrt()
}

/// `name`, with τ (for the `lgpo*` objectives) at `tau`.
fn objective(name: &str, tau: f64) -> lgpo_core::Result<Objective> {
    let mut config = ObjectiveConfig::named(name);
    if name.starts_with("lgpo") {
        config.gate = GateConfig { tau: Some(tau), ..GateConfig::default() };
    }
    Objective::from_config(&config)
}

/// The median mean log-likelihood of the first minibatch under the initial model: a τ that gates
/// about half of the sequences, so the check covers gated ones.
fn median_tau(dir: &str) -> lgpo_core::Result<f64> {
    let mut means: Vec<f64> =
        policy(dir)?.score(&minibatch(0).sequences, 4)?.iter().map(|s| s.mean_logprob()).collect();
    means.sort_by(f64::total_cmp);
    Ok(means[means.len() / 2])
}

fn run(session: &MpiSession) -> lgpo_core::Result<bool> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or_else(|| lgpo_core::Error::input("usage: lgpo-dp-check MODEL_DIR [OBJECTIVE...]"))?;
    let names: Vec<String> = args.collect();
    let names = if names.is_empty() { vec!["lgpo".into(), "lgpo_stochastic".into(), "grpo".into()] } else { names };
    let comm: Arc<dyn Communicator> = Arc::new(session.communicator());
    let (rank, size) = (comm.rank(), comm.size());
    let mut worst = [0.0f64; 3]; // gradient, metrics, weights
    let mut gated = Vec::new(); // the reference's mean gated fraction per objective
    let tau = median_tau(&dir)?;
    for name in &names {
        let objective = objective(name, tau)?;
        let (mut single, mut ranked) = (policy(&dir)?, policy(&dir)?);
        ranked.set_communicator(comm.clone());
        for step in 0..STEPS {
            let mb = minibatch(step);
            let local = share(&mb, rank, size, step);
            let grads = relative_l2(
                &flat(&ranked.gradients(&local, &objective)?.grads)?,
                &flat(&single.gradients(&mb, &objective)?.grads)?,
            );
            let before = weights(&single)?;
            let reference = single.train_step(&mb, &objective)?.metrics;
            if step == 0 {
                gated.push(0.0);
            }
            *gated.last_mut().expect("pushed") += reference.get("gated_frac").copied().unwrap_or(0.0) / STEPS as f64;
            let got = ranked.train_step(&local, &objective)?.metrics;
            let metrics = reference
                .iter()
                .map(|(k, v)| (got.get(k).copied().unwrap_or(f64::NAN) - v).abs() / v.abs().max(1e-3))
                .fold(0.0, f64::max);
            let after = weights(&single)?;
            let delta = |w: &[f32]| w.iter().zip(&before).map(|(a, b)| a - b).collect::<Vec<_>>();
            let moved = relative_l2(&delta(&weights(&ranked)?), &delta(&after));
            for (w, v) in worst.iter_mut().zip([grads, metrics, moved]) {
                *w = w.max(if v.is_nan() { f64::INFINITY } else { v });
            }
        }
    }
    // Every rank's worst case, and whether the ranks' weights agree bit for bit (their sums do).
    comm.all_reduce_f64(&mut worst, ReduceOp::Max)?;
    let passed = worst[0] < 1e-5 && worst[1] < 1e-5 && worst[2] < 1e-4;
    if rank == 0 {
        println!(
            "{{\"ranks\": {size}, \"objectives\": {names:?}, \"gated_frac\": {gated:?}, \"steps\": {STEPS}, \"grad_rel_l2\": {:e}, \"metric_rel\": {:e}, \"weight_change_rel_l2\": {:e}, \"passed\": {passed}}}",
            worst[0], worst[1], worst[2]
        );
    }
    Ok(passed)
}

/// Mean step seconds and mean seconds in collectives over `steps` LGPO steps (after one warm-up).
fn bench(session: &MpiSession, steps: usize, dir: &str) -> lgpo_core::Result<bool> {
    let comm: Arc<dyn Communicator> = Arc::new(session.communicator());
    let mut p = policy(dir)?;
    p.set_communicator(comm.clone());
    let objective = objective("lgpo", median_tau(dir)?)?;
    let (mut step_s, mut comm_s) = (0.0, 0.0);
    for step in 0..=steps {
        let mb = minibatch(step).shard(comm.rank(), comm.size())?;
        comm.barrier()?;
        let start = std::time::Instant::now();
        let metrics = p.train_step(&mb, &objective)?.metrics;
        if step > 0 {
            step_s += start.elapsed().as_secs_f64() / steps as f64;
            comm_s += metrics.get("comm_s").copied().unwrap_or(0.0) / steps as f64;
        }
    }
    let mut times = [step_s, comm_s];
    comm.all_reduce_f64(&mut times, ReduceOp::Max)?;
    if comm.rank() == 0 {
        println!(
            "{{\"ranks\": {}, \"sequences_per_step\": {SEQUENCES}, \"steps\": {steps}, \"step_s\": {:.6}, \"comm_s\": {:.6}, \"threads_per_rank\": {}}}",
            comm.size(),
            times[0],
            times[1],
            lgpo_core::compute_threads()
        );
    }
    Ok(true)
}

fn main() -> std::process::ExitCode {
    // The session outlives every communicator: dropping it at the end finalises MPI.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = MpiSession::init().and_then(|session| match args.as_slice() {
        [flag, steps, dir] if flag == "--bench" => match steps.parse() {
            Ok(steps) => bench(&session, steps, dir),
            Err(_) => Err(lgpo_core::Error::input(format!("--bench: `{steps}` is not a step count"))),
        },
        _ => run(&session),
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("lgpo-dp-check: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
