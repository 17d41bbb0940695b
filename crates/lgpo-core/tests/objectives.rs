//! Every objective's dL/dlogp and loss against closed forms written from the papers' formulas
//! (LGPO Section 4 / Algorithm 1, PPO/GRPO Appendix A, GSPO, DAPO), for every aggregation mode,
//! on random inputs near and away from the clip and gate boundaries.

use lgpo_core::objectives::{
    evaluate, Aggregation, ClipConfig, Evaluation, EvaluationInputs, GateConfig, KlConfig, KlEstimator,
    ObjectiveConfig, Registry,
};
use lgpo_core::rng::SplitMix64;

const AGGREGATIONS: [Aggregation; 4] =
    [Aggregation::TokenMean, Aggregation::SeqMeanTokenMean, Aggregation::SeqMeanTokenSum, Aggregation::Sum];

/// A random minibatch: some sequences of high likelihood (mean log-prob near τ = −0.15, on both
/// sides), old log-probs placing ratios near and away from 1 ± ε, some zero advantages.
struct Batch {
    logprobs: Vec<Vec<f32>>,
    old: Vec<Vec<f32>>,
    reference: Vec<Vec<f32>>,
    advantages: Vec<f32>,
}

fn batch(seed: u64, eps_low: f64, eps_high: f64) -> Batch {
    let mut rng = SplitMix64::new(seed);
    let mut uniform = |lo: f64, hi: f64| lo + (hi - lo) * rng.next_f64();
    let ratios = [
        1.0 - eps_low - 0.05,
        1.0 - eps_low - 0.005,
        1.0 - eps_low + 0.005,
        1.0,
        1.0 + eps_high - 0.005,
        1.0 + eps_high + 0.005,
        1.0 + eps_high + 0.05,
        0.4,
        2.5,
    ];
    let (mut logprobs, mut old, mut reference, mut advantages) = (vec![], vec![], vec![], vec![]);
    for i in 0..8 {
        let len = 1 + (uniform(0.0, 7.0) as usize);
        let high_likelihood = i % 2 == 0;
        // High-likelihood rows: mean τ ± 0.02..0.1; others: typical reasoning tokens.
        let target_mean =
            if high_likelihood { -0.15 + uniform(0.02, 0.1) * if i % 4 == 0 { 1.0 } else { -1.0 } } else { -1.5 };
        let mut lp: Vec<f32> = (0..len).map(|_| (target_mean + uniform(-0.01, 0.01)).min(-1e-3) as f32).collect();
        if !high_likelihood {
            lp = (0..len).map(|_| uniform(-4.0, -0.2) as f32).collect();
        }
        let o: Vec<f32> = lp.iter().map(|&l| l - (ratios[(uniform(0.0, 9.0) as usize).min(8)]).ln() as f32).collect();
        let r: Vec<f32> = lp.iter().map(|&l| l + uniform(-0.5, 0.5) as f32).collect();
        let a = [0.0, -1.3, 0.7, 2.1, -0.4][(uniform(0.0, 5.0) as usize).min(4)];
        logprobs.push(lp);
        old.push(o);
        reference.push(r);
        advantages.push(a);
    }
    Batch { logprobs, old, reference, advantages }
}

fn run(config: &ObjectiveConfig, b: &Batch, seed: u64) -> Evaluation {
    let inputs = EvaluationInputs {
        logprobs: &b.logprobs,
        old_logprobs: Some(&b.old),
        ref_logprobs: Some(&b.reference),
        entropy: None,
        advantages: &b.advantages,
        forced_tokens: None,
        seed,
    };
    evaluate(config, &inputs).unwrap_or_else(|e| panic!("{}: {e}", config.name))
}

/// Aggregation weight of token t of sequence i.
fn weight(mode: Aggregation, lengths: &[usize], i: usize) -> f64 {
    let tokens: usize = lengths.iter().sum();
    let g = lengths.len() as f64;
    match mode {
        Aggregation::TokenMean => 1.0 / tokens as f64,
        Aggregation::SeqMeanTokenMean => 1.0 / (g * lengths[i] as f64),
        Aggregation::SeqMeanTokenSum => 1.0 / g,
        Aggregation::Sum => 1.0,
    }
}

/// Appendix A: 1_clip = 0 when (A > 0, r > 1+ε_h) or (A < 0, r < 1−ε_l) or, with dual clip c,
/// (A < 0, r > c).
fn clip_active(a: f64, r: f64, low: f64, high: f64, dual: Option<f64>) -> bool {
    !((a > 0.0 && r > 1.0 + high) || (a < 0.0 && r < 1.0 - low) || (a < 0.0 && dual.is_some_and(|c| r > c)))
}

/// The PPO token loss −min(rA, clip(r)A), capped at −cA for A < 0 with dual clip.
fn ppo_loss(a: f64, r: f64, low: f64, high: f64, dual: Option<f64>) -> f64 {
    let loss = -(r * a).min(r.clamp(1.0 - low, 1.0 + high) * a);
    match dual {
        Some(c) if a < 0.0 => loss.min(-c * a),
        _ => loss,
    }
}

fn mean(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
}

/// Per-token derivative dℓ/dlogp and loss ℓ of sequence i, token t, before aggregation.
type ClosedForm = dyn Fn(&Batch, usize, usize) -> (f64, f64);

fn check(
    name: &str,
    config: ObjectiveConfig,
    closed: &dyn Fn(&Batch, usize, usize) -> (f64, f64),
    modes: &[Aggregation],
) {
    for seed in 0..6 {
        let b = batch(seed, config.clip.low.unwrap_or(0.2), config.clip.high.unwrap_or(0.2));
        let lengths: Vec<usize> = b.logprobs.iter().map(Vec::len).collect();
        for &mode in modes {
            let config = ObjectiveConfig { aggregation: Some(mode), ..config.clone() };
            let got = run(&config, &b, 0);
            let mut loss = 0.0;
            for i in 0..lengths.len() {
                for t in 0..lengths[i] {
                    let (grad, token_loss) = closed(&b, i, t);
                    let w = weight(mode, &lengths, i);
                    let want = w * grad;
                    let have = got.grad_logprobs[i][t] as f64;
                    assert!(
                        (have - want).abs() < 1e-5 * (1.0 + want.abs()),
                        "{name} {mode:?} seed {seed}: dL/dlogp[{i}][{t}] = {have}, closed form {want}"
                    );
                    loss += w * token_loss;
                }
            }
            assert!(
                (got.loss - loss).abs() < 1e-4 * (1.0 + loss.abs()),
                "{name} {mode:?} seed {seed}: loss {} vs {loss}",
                got.loss
            );
        }
    }
}

fn lp(b: &Batch, i: usize, t: usize) -> f64 {
    b.logprobs[i][t] as f64
}
fn ratio(b: &Batch, i: usize, t: usize) -> f64 {
    (lp(b, i, t) - b.old[i][t] as f64).exp()
}
fn adv(b: &Batch, i: usize) -> f64 {
    b.advantages[i] as f64
}

#[test]
fn pg_is_minus_advantage() {
    check("pg", ObjectiveConfig::named("pg"), &|b, i, t| (-adv(b, i), -adv(b, i) * lp(b, i, t)), &AGGREGATIONS);
}

#[test]
fn lgpo_gates_high_likelihood_sequences() {
    let gate = |b: &Batch, i: usize, tau: f64| if mean(&b.logprobs[i]) <= tau { 1.0 } else { 0.0 };
    check(
        "lgpo",
        ObjectiveConfig::named("lgpo"),
        &|b, i, t| {
            let c = gate(b, i, -0.15);
            (-c * adv(b, i), -c * adv(b, i) * lp(b, i, t))
        },
        &AGGREGATIONS,
    );
    let config = ObjectiveConfig {
        gate: GateConfig { tau: Some(-0.2), tau_low: Some(-2.0), probability: None },
        ..ObjectiveConfig::named("lgpo")
    };
    check(
        "lgpo two-sided",
        config,
        &|b, i, t| {
            let m = mean(&b.logprobs[i]);
            let c = if (-2.0..=-0.2).contains(&m) { 1.0 } else { 0.0 };
            (-c * adv(b, i), -c * adv(b, i) * lp(b, i, t))
        },
        &AGGREGATIONS,
    );
}

#[test]
fn forced_tokens_leave_the_gate_statistic() {
    // Two sequences whose format tokens (log-prob ~0) lift ℓ̄ above τ = −0.15; the model's own
    // choices (positions 1 and 2 of the first, 1 of the second) are below it.
    let logprobs = vec![vec![-0.001, -0.2, -0.3, -0.002, -0.001], vec![-0.004, -0.4, -0.002]];
    let forced = vec![vec![true, false, false, true, true], vec![true, false, true]];
    let advantages = [1.0f32, 1.0];
    let inputs = |forced_tokens| EvaluationInputs {
        logprobs: &logprobs,
        old_logprobs: None,
        ref_logprobs: None,
        entropy: None,
        advantages: &advantages,
        forced_tokens,
        seed: 0,
    };
    let config = ObjectiveConfig::named("lgpo");
    // By hand: ℓ̄ over all tokens = −0.504 / 5 = −0.1008 and −0.406 / 3 = −0.1353, both > τ:
    // gated. Without the forced tokens: −0.5 / 2 = −0.25 and −0.4: both kept.
    let all = evaluate(&config, &inputs(None)).unwrap();
    assert_eq!(all.metrics["gated_frac"], 1.0);
    assert!(all.grad_logprobs.iter().flatten().all(|&g| g == 0.0));
    let choices = evaluate(&config, &inputs(Some(&forced))).unwrap();
    assert_eq!(choices.metrics["gated_frac"], 0.0);
    // Kept sequences train on every token, forced ones included (token-mean over 8 tokens).
    for row in &choices.grad_logprobs {
        for &g in row {
            assert!((g as f64 + 1.0 / 8.0).abs() < 1e-7, "{g}");
        }
    }
    // A τ between the two statistics of the first sequence (−0.25 < τ < −0.1008) tells them apart.
    let between = ObjectiveConfig {
        gate: GateConfig { tau: Some(-0.3), tau_low: None, probability: None },
        ..ObjectiveConfig::named("lgpo")
    };
    let split = evaluate(&between, &inputs(Some(&forced))).unwrap();
    assert_eq!(split.metrics["gated_frac"], 0.5, "−0.25 > −0.3 is gated, −0.4 is not");
    let mut short = forced.clone();
    short[1].pop();
    let err = evaluate(&config, &inputs(Some(&short))).unwrap_err().to_string();
    assert!(err.contains("forced_tokens[1]"), "{err}");
}

#[test]
fn positive_only_gate_keeps_negative_advantages() {
    check(
        "lgpo_positive_only",
        ObjectiveConfig::named("lgpo_positive_only"),
        &|b, i, t| {
            let gated = mean(&b.logprobs[i]) > -0.15 && adv(b, i) > 0.0;
            let c = if gated { 0.0 } else { 1.0 };
            (-c * adv(b, i), -c * adv(b, i) * lp(b, i, t))
        },
        &AGGREGATIONS,
    );
}

#[test]
fn stochastic_gate_at_probability_zero_and_one() {
    let with_p = |p| ObjectiveConfig {
        gate: GateConfig { probability: Some(p), ..GateConfig::default() },
        ..ObjectiveConfig::named("lgpo_stochastic")
    };
    check("lgpo_stochastic p=0", with_p(0.0), &|b, i, t| (-adv(b, i), -adv(b, i) * lp(b, i, t)), &AGGREGATIONS);
    check(
        "lgpo_stochastic p=1",
        with_p(1.0),
        &|b, i, t| {
            let c = if mean(&b.logprobs[i]) <= -0.15 { 1.0 } else { 0.0 };
            (-c * adv(b, i), -c * adv(b, i) * lp(b, i, t))
        },
        &AGGREGATIONS,
    );
}

fn ratio_objective(name: &str, low: f64, high: f64, dual: Option<f64>) -> Box<ClosedForm> {
    match name {
        "grpo" | "dapo" => Box::new(move |b, i, t| {
            let (a, r) = (adv(b, i), ratio(b, i, t));
            let active = if clip_active(a, r, low, high, dual) { 1.0 } else { 0.0 };
            (-active * a * r, ppo_loss(a, r, low, high, dual))
        }),
        "grpo_no_correction" => Box::new(move |b, i, t| {
            let (a, r) = (adv(b, i), ratio(b, i, t));
            let active = if clip_active(a, r, low, high, None) { 1.0 } else { 0.0 };
            (-active * a, -active * a * lp(b, i, t))
        }),
        "grpo_no_clip" => Box::new(|b, i, t| (-adv(b, i) * ratio(b, i, t), -adv(b, i) * ratio(b, i, t))),
        _ => unreachable!(),
    }
}

#[test]
fn grpo_family_follows_appendix_a() {
    check("grpo", ObjectiveConfig::named("grpo"), &*ratio_objective("grpo", 0.2, 0.2, None), &AGGREGATIONS);
    let dual = ObjectiveConfig {
        clip: ClipConfig { dual: Some(2.0), ..ClipConfig::default() },
        ..ObjectiveConfig::named("grpo")
    };
    check("grpo dual-clip", dual, &*ratio_objective("grpo", 0.2, 0.2, Some(2.0)), &AGGREGATIONS);
    let dapo = ObjectiveConfig {
        clip: ClipConfig { low: Some(0.2), high: Some(0.28), dual: None },
        ..ObjectiveConfig::named("dapo")
    };
    check("dapo", dapo, &*ratio_objective("dapo", 0.2, 0.28, None), &AGGREGATIONS);
    check(
        "grpo_no_correction",
        ObjectiveConfig::named("grpo_no_correction"),
        &*ratio_objective("grpo_no_correction", 0.2, 0.2, None),
        &AGGREGATIONS,
    );
    check(
        "grpo_no_clip",
        ObjectiveConfig::named("grpo_no_clip"),
        &*ratio_objective("grpo_no_clip", 0.2, 0.2, None),
        &AGGREGATIONS,
    );
}

#[test]
fn dapo_defaults_to_clip_higher() {
    // Without a clip section dapo must use 0.2 / 0.28.
    check(
        "dapo defaults",
        ObjectiveConfig::named("dapo"),
        &*ratio_objective("dapo", 0.2, 0.28, None),
        &[Aggregation::TokenMean],
    );
}

#[test]
fn gspo_clips_whole_sequences() {
    let (low, high) = (0.02, 0.03); // wide enough that the batch's ratios fall on both sides
    let config = ObjectiveConfig {
        clip: ClipConfig { low: Some(low), high: Some(high), dual: None },
        ..ObjectiveConfig::named("gspo")
    };
    let closed = move |b: &Batch, i: usize, _t: usize| {
        let n = b.logprobs[i].len() as f64;
        let s = (b.logprobs[i].iter().zip(&b.old[i]).map(|(&l, &o)| (l - o) as f64).sum::<f64>() / n).exp();
        let a = adv(b, i);
        let active = if clip_active(a, s, low, high, None) { 1.0 } else { 0.0 };
        (-active * a * s, ppo_loss(a, s, low, high, None))
    };
    check("gspo", config.clone(), &closed, &AGGREGATIONS);
    // Its default aggregation is the sequence mean of token means.
    let b = batch(3, low, high);
    let default = run(&config, &b, 0);
    let explicit = run(&ObjectiveConfig { aggregation: Some(Aggregation::SeqMeanTokenMean), ..config }, &b, 0);
    assert_eq!(default, explicit);
}

#[test]
fn kl_penalties_add_their_derivatives() {
    for (estimator, dkl) in [
        (KlEstimator::K1, Box::new(|_: f64, _: f64| 1.0) as Box<dyn Fn(f64, f64) -> f64>),
        (KlEstimator::K3, Box::new(|lp: f64, r: f64| 1.0 - (r - lp).exp())),
    ] {
        let config = ObjectiveConfig { kl: KlConfig { coef: 0.3, estimator }, ..ObjectiveConfig::named("pg") };
        check(
            &format!("pg + kl {estimator:?}"),
            config,
            &|b, i, t| {
                let (l, r) = (lp(b, i, t), b.reference[i][t] as f64);
                let kl = match estimator {
                    KlEstimator::K1 => l - r,
                    KlEstimator::K3 => (r - l).exp() - (r - l) - 1.0,
                };
                (-adv(b, i) + 0.3 * dkl(l, r), -adv(b, i) * l + 0.3 * kl)
            },
            &AGGREGATIONS,
        );
    }
}

/// Fully on-policy (old = current): the ratio is 1, grpo's clip never activates and its update
/// equals pg's; LGPO still gates.
#[test]
fn fully_on_policy_grpo_is_pg_and_lgpo_still_gates() {
    for seed in 0..6 {
        let mut b = batch(seed, 0.2, 0.2);
        b.old = b.logprobs.clone();
        let grpo = run(&ObjectiveConfig::named("grpo"), &b, 0);
        let pg = run(&ObjectiveConfig::named("pg"), &b, 0);
        for (g, p) in grpo.grad_logprobs.iter().flatten().zip(pg.grad_logprobs.iter().flatten()) {
            assert!((g - p).abs() < 1e-7, "grpo {g} vs pg {p}");
        }
        assert_eq!(grpo.metrics["clip_frac_low"] + grpo.metrics["clip_frac_high"], 0.0);
        assert_eq!((grpo.metrics["ratio_min"], grpo.metrics["ratio_max"]), (1.0, 1.0));
        let lgpo = run(&ObjectiveConfig::named("lgpo"), &b, 0);
        assert!(lgpo.metrics["gated_frac"] > 0.0, "the batch has high-likelihood sequences");
        assert!(lgpo.grad_logprobs != pg.grad_logprobs);
    }
}

#[test]
fn random_gate_drops_as_many_sequences_as_the_likelihood_gate() {
    let mut differs = false;
    for seed in 0..6 {
        let b = batch(seed, 0.2, 0.2);
        let lgpo = run(&ObjectiveConfig::named("lgpo"), &b, 0);
        let random = run(&ObjectiveConfig::named("lgpo_random_gate"), &b, seed);
        assert_eq!(lgpo.metrics["gated_frac"], random.metrics["gated_frac"], "seed {seed}");
        assert!(lgpo.metrics["gated_frac"] > 0.0);
        differs |= lgpo.grad_logprobs != random.grad_logprobs;
        assert_eq!(random, run(&ObjectiveConfig::named("lgpo_random_gate"), &b, seed), "same seed, same gate");
    }
    assert!(differs, "a random gate should sometimes pick other sequences than the likelihood gate");
}

#[test]
fn metrics_count_gated_zero_and_kept_sequences() {
    let b = batch(1, 0.2, 0.2);
    let m = run(&ObjectiveConfig::named("lgpo"), &b, 0).metrics;
    let n = b.advantages.len() as f64;
    let gated: Vec<bool> = b.logprobs.iter().map(|r| mean(r) > -0.15).collect();
    let zero = b.advantages.iter().filter(|&&a| a == 0.0).count() as f64;
    let kept = b.advantages.iter().zip(&gated).filter(|(&a, &g)| a != 0.0 && !g).count() as f64;
    assert_eq!(m["gated_frac"], gated.iter().filter(|&&g| g).count() as f64 / n);
    assert_eq!(m["zero_adv_frac"], zero / n);
    assert_eq!(m["kept_nonzero_adv_frac"], kept / n);
    let tokens: usize = b.logprobs.iter().map(Vec::len).sum();
    let lp_mean = b.logprobs.iter().flatten().map(|&v| v as f64).sum::<f64>() / tokens as f64;
    assert!((m["logprob_mean"] - lp_mean).abs() < 1e-6);
    assert!(m.contains_key("ratio_mean") && m.contains_key("approx_kl"), "old log-probs were given: {m:?}");
}

#[test]
fn registry_rejects_unknown_duplicate_and_misplaced_settings() {
    let err = evaluate_err(ObjectiveConfig::named("ppo2"));
    assert!(err.contains("unknown objective `ppo2`") && err.contains("lgpo") && err.contains("gspo"), "{err}");
    let mut registry = Registry::new();
    registry.register("x", |_| unreachable!()).unwrap();
    assert!(registry.register("x", |_| unreachable!()).unwrap_err().to_string().contains("already registered"));
    let err = evaluate_err(ObjectiveConfig {
        clip: ClipConfig { low: Some(0.1), ..ClipConfig::default() },
        ..ObjectiveConfig::named("lgpo")
    });
    assert!(err.contains("`lgpo` has no ratio clip"), "{err}");
    let err = evaluate_err(ObjectiveConfig {
        gate: GateConfig { tau: Some(-0.1), ..GateConfig::default() },
        ..ObjectiveConfig::named("grpo")
    });
    assert!(err.contains("`grpo` has no likelihood gate"), "{err}");
    let err = evaluate_err(ObjectiveConfig {
        gate: GateConfig { tau: Some(0.5), ..GateConfig::default() },
        ..ObjectiveConfig::named("lgpo")
    });
    assert!(err.contains("gate.tau"), "{err}");
    let err = evaluate_err(ObjectiveConfig {
        clip: ClipConfig { low: Some(1.5), ..ClipConfig::default() },
        ..ObjectiveConfig::named("grpo")
    });
    assert!(err.contains("clip.low"), "{err}");
}

fn evaluate_err(config: ObjectiveConfig) -> String {
    let b = batch(0, 0.2, 0.2);
    let inputs = EvaluationInputs {
        logprobs: &b.logprobs,
        old_logprobs: Some(&b.old),
        ref_logprobs: None,
        entropy: None,
        advantages: &b.advantages,
        forced_tokens: None,
        seed: 0,
    };
    evaluate(&config, &inputs).unwrap_err().to_string()
}

#[test]
fn bad_inputs_are_named() {
    let b = batch(0, 0.2, 0.2);
    let mut short = b.old.clone();
    short[2].pop();
    let inputs = EvaluationInputs {
        logprobs: &b.logprobs,
        old_logprobs: Some(&short),
        ref_logprobs: None,
        entropy: None,
        advantages: &b.advantages,
        forced_tokens: None,
        seed: 0,
    };
    let err = evaluate(&ObjectiveConfig::named("grpo"), &inputs).unwrap_err().to_string();
    assert!(err.contains("old_logprobs[2]"), "{err}");
    let inputs = EvaluationInputs { old_logprobs: None, ..inputs };
    let err = evaluate(&ObjectiveConfig::named("grpo"), &inputs).unwrap_err().to_string();
    assert!(err.contains("needs old_logprobs"), "{err}");
    let inputs = EvaluationInputs { advantages: &b.advantages[1..], ..inputs };
    assert!(evaluate(&ObjectiveConfig::named("pg"), &inputs).unwrap_err().to_string().contains("advantages"));
}
