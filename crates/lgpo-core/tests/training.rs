//! The training step on the tiny fixture model: exact gradient accumulation, zero-advantage
//! skipping, non-finite steps, optimizer checkpoints, and the old-log-prob pass.

mod common;

use candle_core::{DType, Device, Tensor};
use lgpo_core::model::{Qwen2, Sequence};
use lgpo_core::objectives::{Aggregation, GateConfig, Objective, ObjectiveConfig};
use lgpo_core::optim::{AdamW, AdamWConfig};
use lgpo_core::policy::{Minibatch, OldLogprobSource, Policy, Rollout, TrainConfig};
use lgpo_core::rng::SplitMix64;

fn model() -> Qwen2 {
    Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, DType::F32).unwrap()
}

fn policy(micro_batch_size: usize, skip_zero_advantage: bool) -> Policy {
    let optimizer = AdamWConfig { lr: 1e-3, ..AdamWConfig::default() };
    let config = TrainConfig { micro_batch_size, skip_zero_advantage, optimizer, ..TrainConfig::default() };
    Policy::new(model(), config).unwrap()
}

/// `n` random sequences (prompts 2-6 tokens, responses 1-8), advantages with some zeros.
fn rollout(n: usize, seed: u64) -> Rollout {
    let mut rng = SplitMix64::new(seed);
    let mut int = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo);
    let mut sequences = Vec::new();
    let mut advantages = Vec::new();
    for _ in 0..n {
        let prompt = (0..int(2, 7)).map(|_| int(0, 128) as u32).collect();
        let response = (0..int(1, 9)).map(|_| int(0, 128) as u32).collect();
        sequences.push(Sequence { prompt, response });
        advantages.push([0.0, 1.0, -1.0, 0.5, -2.0][int(0, 5) as usize]);
    }
    Rollout { sequences, advantages, generation_logprobs: None, ref_logprobs: None }
}

/// Old log-probs a little off the current ones, so ratios spread around 1.
fn perturbed_old(policy: &Policy, rollout: &Rollout, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(seed);
    let scores = policy.model().score(&rollout.sequences, 16).unwrap();
    scores.into_iter().map(|s| s.logprobs.iter().map(|lp| lp + (rng.next_f64() as f32 - 0.5) * 0.6).collect()).collect()
}

fn minibatch(rollout: &Rollout, old: Option<Vec<Vec<f32>>>) -> Minibatch {
    Minibatch {
        sequences: rollout.sequences.clone(),
        advantages: rollout.advantages.clone(),
        old_logprobs: old,
        ref_logprobs: None,
        old_is_current: false,
        forced_tokens: None,
    }
}

fn max_relative_difference(a: &[Tensor], b: &[Tensor]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let diff = (x - y).unwrap().sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
            let norm = y.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
            diff / norm.max(1e-12)
        })
        .fold(0.0, f32::max)
}

fn weights(policy: &Policy) -> Vec<Vec<f32>> {
    policy.model().params().iter().map(|(_, v)| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap()).collect()
}

#[test]
fn micro_batches_and_zero_advantage_skipping_give_the_same_gradient() {
    let data = rollout(64, 1);
    let reference = policy(64, false);
    let old = perturbed_old(&reference, &data, 2);
    let objectives = [
        ObjectiveConfig {
            gate: GateConfig { tau: Some(-2.0), ..GateConfig::default() },
            ..ObjectiveConfig::named("lgpo")
        },
        ObjectiveConfig::named("grpo"),
        ObjectiveConfig::named("gspo"),
        ObjectiveConfig { aggregation: Some(Aggregation::SeqMeanTokenSum), ..ObjectiveConfig::named("pg") },
    ];
    for config in objectives {
        let objective = Objective::from_config(&config).unwrap();
        let mb = minibatch(&data, objective.needs_old_logprobs().then(|| old.clone()));
        let one = reference.gradients(&mb, &objective).unwrap();
        assert_eq!(one.skipped_zero_advantage, 0);
        assert!(one.stats.loss != 0.0);
        for (micro, skip) in [(8, false), (8, true), (5, true)] {
            let split = policy(micro, skip).gradients(&mb, &objective).unwrap();
            let err = max_relative_difference(&split.grads, &one.grads);
            assert!(err < 1e-5, "{}: 1 x 64 vs micro-batches of {micro} (skip {skip}) differ by {err:e}", config.name);
            assert!((split.stats.loss - one.stats.loss).abs() < 1e-6 * (1.0 + one.stats.loss.abs()));
            if skip {
                assert!(split.skipped_zero_advantage > 0);
            }
        }
    }
}

#[test]
fn optimizer_steps_lower_the_loss_of_a_fixed_batch() {
    let data = rollout(16, 3);
    let mut p = policy(8, true);
    let objective = Objective::from_config(&ObjectiveConfig::named("pg")).unwrap();
    let mb = minibatch(&data, None);
    let losses: Vec<f64> = (0..6).map(|_| p.train_minibatch(&mb, &objective).unwrap()["loss"]).collect();
    assert!(losses[5] < losses[0] - 1e-3, "{losses:?}");
    assert_eq!(p.optimizer().steps_taken(), 6);
}

#[test]
fn a_non_finite_step_is_skipped_and_changes_nothing() {
    let data = rollout(8, 4);
    let mut p = policy(4, true);
    let objective = Objective::from_config(&ObjectiveConfig::named("grpo_no_clip")).unwrap();
    let mut old = perturbed_old(&p, &data, 5);
    old[0][0] = -1e30; // ratio = exp(1e30) = inf
    let before = weights(&p);
    let metrics = p.train_minibatch(&minibatch(&data, Some(old)), &objective).unwrap();
    assert_eq!(metrics["skipped_nonfinite"], 1.0);
    assert_eq!(p.optimizer().steps_taken(), 0);
    assert_eq!(weights(&p), before, "weights must stay bitwise the same");
}

#[test]
fn optimizer_state_round_trips_through_a_checkpoint() {
    let data = rollout(8, 6);
    let objective = Objective::from_config(&ObjectiveConfig::named("pg")).unwrap();
    let mb = minibatch(&data, None);
    let mut p = policy(8, true);
    p.train_minibatch(&mb, &objective).unwrap();
    p.train_minibatch(&mb, &objective).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    p.optimizer().save(&path).unwrap();
    let snapshot = weights(&p);

    p.train_minibatch(&mb, &objective).unwrap();
    let continued = weights(&p);

    for ((_, var), w) in p.model().params().iter().zip(&snapshot) {
        var.set(&Tensor::from_vec(w.clone(), var.shape(), &Device::Cpu).unwrap()).unwrap();
    }
    let restored = AdamW::load(&path, p.model().params(), *p.optimizer().config()).unwrap();
    assert_eq!(restored.steps_taken(), 2);
    p.set_optimizer(restored);
    p.train_minibatch(&mb, &objective).unwrap();
    assert_eq!(weights(&p), continued, "a restored optimizer continues exactly");

    let err =
        AdamW::load(dir.path().join("missing.safetensors"), p.model().params(), AdamWConfig::default()).unwrap_err();
    assert!(err.to_string().contains("missing.safetensors"));
    std::fs::write(&path, b"garbage").unwrap();
    let err = AdamW::load(&path, p.model().params(), AdamWConfig::default()).unwrap_err();
    assert!(err.to_string().contains("optimizer.safetensors"), "{err}");
}

/// N_updates = 1 with recomputed old log-probs: the ratio is 1, grpo never clips and its update
/// equals the plain policy gradient's (paper Section 3.2); LGPO never computes old log-probs.
#[test]
fn fully_on_policy_grpo_equals_pg_and_lgpo_skips_the_old_pass() {
    let data = rollout(16, 7);
    let p = policy(8, true);
    let grpo = Objective::from_config(&ObjectiveConfig::named("grpo")).unwrap();
    let pg = Objective::from_config(&ObjectiveConfig::named("pg")).unwrap();
    let lgpo = Objective::from_config(&ObjectiveConfig::named("lgpo")).unwrap();
    let old = p.old_logprobs(&data, &grpo, OldLogprobSource::Recompute).unwrap();
    let g_grpo = p.gradients(&minibatch(&data, old), &grpo).unwrap();
    let g_pg = p.gradients(&minibatch(&data, None), &pg).unwrap();
    assert!(max_relative_difference(&g_grpo.grads, &g_pg.grads) < 1e-6);
    let m = g_grpo.stats.metrics();
    assert_eq!(m["clip_frac_low"] + m["clip_frac_high"], 0.0);
    assert!((m["ratio_min"] - 1.0).abs() < 1e-6 && (m["ratio_max"] - 1.0).abs() < 1e-6, "{m:?}");

    assert!(p.old_logprobs(&data, &lgpo, OldLogprobSource::Recompute).unwrap().is_none());
    let mut p = policy(8, true);
    let report = p.train_rollout(&data, &lgpo, 2, OldLogprobSource::Recompute).unwrap();
    assert_eq!(report.old_logprob_seconds, 0.0);
    assert_eq!(report.updates.len(), 2);
    let report = p.train_rollout(&data, &grpo, 2, OldLogprobSource::Recompute).unwrap();
    assert!(report.old_logprob_seconds > 0.0);
}

#[test]
fn bad_minibatches_are_named() {
    let data = rollout(4, 8);
    let p = policy(2, true);
    let grpo = Objective::from_config(&ObjectiveConfig::named("grpo")).unwrap();
    let err = |mb: Minibatch, o: &Objective| p.gradients(&mb, o).unwrap_err().to_string();
    assert!(err(minibatch(&data, None), &grpo).contains("needs minibatch.old_logprobs"));
    let mut old = perturbed_old(&p, &data, 1);
    old[3].push(0.0);
    assert!(err(minibatch(&data, Some(old)), &grpo).contains("old_logprobs[3]"));
    let mut mb = minibatch(&data, None);
    mb.advantages.pop();
    assert!(err(mb, &grpo).contains("advantages"));
    let mut p = policy(2, true);
    let report = p.train_rollout(&data, &grpo, 3, OldLogprobSource::Recompute).unwrap_err().to_string();
    assert!(report.contains("updates (3)"), "{report}");
    let err = p.train_rollout(&data, &grpo, 1, OldLogprobSource::Generation).unwrap_err().to_string();
    assert!(err.contains("generation_logprobs"), "{err}");
}

#[test]
fn old_is_current_equals_a_recomputed_old_pass_on_the_first_minibatch() {
    // The first minibatch of a rollout batch is on-policy: taking its own forward as the old
    // log-probs gives the gradient of a separate no-grad pass over the same weights, without it.
    let data = rollout(24, 9);
    let p = policy(8, true);
    for name in ["grpo", "gspo", "dapo", "grpo_no_clip"] {
        let objective = Objective::from_config(&ObjectiveConfig::named(name)).unwrap();
        let recomputed = p.old_logprobs(&data, &objective, OldLogprobSource::Recompute).unwrap();
        let with_pass = p.gradients(&minibatch(&data, recomputed), &objective).unwrap();
        let own = Minibatch { old_is_current: true, ..minibatch(&data, None) };
        let without = p.gradients(&own, &objective).unwrap();
        let err = max_relative_difference(&without.grads, &with_pass.grads);
        assert!(err < 1e-5, "{name}: old_is_current vs recomputed old differ by {err:e}");
        let ratio = without.stats.ratio.unwrap();
        assert_eq!((ratio.min, ratio.max), (1.0, 1.0), "{name}: ratios are exactly 1");
    }
    let both = Minibatch { old_is_current: true, ..minibatch(&data, Some(vec![vec![]; 24])) };
    let objective = Objective::from_config(&ObjectiveConfig::named("grpo")).unwrap();
    assert!(p.gradients(&both, &objective).unwrap_err().to_string().contains("not both"));
}

#[test]
fn forced_tokens_change_the_gate_statistic_of_a_training_step() {
    let data = rollout(12, 5);
    let forced: Vec<Vec<bool>> =
        data.sequences.iter().map(|s| (0..s.response.len()).map(|t| t % 3 == 0).collect()).collect();
    let policy = policy(4, false);
    let scores = policy.model().score(&data.sequences, 16).unwrap();
    // By hand: the mean of the log-probs at the positions not marked forced (0 when none is left).
    let by_hand: Vec<f64> = scores
        .iter()
        .zip(&forced)
        .map(|(s, f)| {
            let kept: Vec<f64> = s.logprobs.iter().zip(f).filter(|(_, &f)| !f).map(|(&lp, _)| lp as f64).collect();
            if kept.is_empty() {
                0.0
            } else {
                kept.iter().sum::<f64>() / kept.len() as f64
            }
        })
        .collect();
    let lgpo = Objective::from_config(&ObjectiveConfig::named("lgpo")).unwrap();
    let with_forced = Minibatch { forced_tokens: Some(forced.clone()), ..minibatch(&data, None) };
    let out = policy.gradients(&with_forced, &lgpo).unwrap();
    for (i, (o, want)) in out.sequences.iter().zip(&by_hand).enumerate() {
        let got = o.mean_logprob.unwrap();
        assert!((got - want).abs() < 1e-4, "sequence {i}: {got} vs {want}");
    }
    let plain = policy.gradients(&minibatch(&data, None), &lgpo).unwrap();
    assert!(plain
        .sequences
        .iter()
        .zip(&out.sequences)
        .any(|(a, b)| (a.mean_logprob.unwrap() - b.mean_logprob.unwrap()).abs() > 1e-3));
    let mut short = forced;
    short[3].pop();
    let err = policy.gradients(&Minibatch { forced_tokens: Some(short), ..minibatch(&data, None) }, &lgpo).unwrap_err();
    assert!(err.to_string().contains("minibatch.forced_tokens[3]"), "{err}");
}

#[test]
fn skip_first_trains_a_rollout_as_a_recomputed_pass_does() {
    let data = rollout(12, 9);
    let grpo = Objective::from_config(&ObjectiveConfig::named("grpo")).unwrap();
    let (mut a, mut b) = (policy(4, true), policy(4, true));
    let full = a.train_rollout(&data, &grpo, 3, OldLogprobSource::Recompute).unwrap();
    let skip = b.train_rollout(&data, &grpo, 3, OldLogprobSource::SkipFirst).unwrap();
    // The same three updates: the first minibatch's old policy is the current one either way.
    for (x, y) in full.updates.iter().zip(&skip.updates) {
        assert!((x["loss"] - y["loss"]).abs() < 1e-6, "{x:?} vs {y:?}");
    }
    let (wa, wb) = (weights(&a), weights(&b));
    let diff = wa.iter().flatten().zip(wb.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-5, "weights differ by {diff}");
    assert!(skip.old_logprob_seconds > 0.0, "minibatches 2 and 3 are scored");
    // At one update nothing is scored; objectives without old log-probs ignore the source.
    let one = b.train_rollout(&data, &grpo, 1, OldLogprobSource::SkipFirst).unwrap();
    assert_eq!(one.updates[0]["ratio_max"], 1.0);
    assert_eq!(one.old_logprob_seconds, 0.0);
    let err = b.old_logprobs(&data, &grpo, OldLogprobSource::SkipFirst).unwrap_err().to_string();
    assert!(err.contains("use train_rollout"), "{err}");
}
