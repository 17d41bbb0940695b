//! Log-probs at a softmax temperature T (a rollout sampled at T is scored as softmax(logits / T),
//! as verl and TRL score it): values and every parameter's gradient against a reference built
//! from the full logits, `log_softmax(logits / T)` gathered at the response tokens, through
//! candle's own backward; and the policy's setting reaching its old-log-prob pass.

mod common;

use candle_core::{DType, Device, Tensor, D};
use lgpo_core::model::{Grad, LogprobPath, Qwen2, Sequence, SequenceBatch};
use lgpo_core::policy::{Policy, TrainConfig};

const TEMPERATURE: f64 = 0.7;

fn sequences() -> Vec<Sequence> {
    vec![
        Sequence { prompt: vec![3, 9, 4], response: vec![17, 5, 99, 2] },
        Sequence { prompt: vec![8], response: vec![40, 41] },
        Sequence { prompt: vec![1, 2], response: vec![7, 7, 7, 120, 64] },
    ]
}

/// Response log-probs (B, R) of softmax(logits / t), from the model's full logits.
fn reference_logprobs(model: &Qwen2, batch: &SequenceBatch, t: f64, grad: Grad) -> Tensor {
    let logits = model.logits(&batch.input_ids, &batch.attention_mask, &batch.position_ids, grad).unwrap();
    let scaled = logits.narrow(1, batch.prompt_width - 1, batch.response_width).unwrap().affine(1.0 / t, 0.0).unwrap();
    let log_z = scaled.exp().unwrap().sum_keepdim(D::Minus1).unwrap().log().unwrap();
    let log_softmax = scaled.broadcast_sub(&log_z).unwrap().contiguous().unwrap();
    let targets = batch.response_ids().unwrap().unsqueeze(2).unwrap().contiguous().unwrap();
    log_softmax.gather(&targets, 2).unwrap().squeeze(2).unwrap()
}

fn masked(x: &Tensor, batch: &SequenceBatch) -> Tensor {
    (x.to_dtype(DType::F32).unwrap() * &batch.response_mask).unwrap()
}

/// A loss that weights the sequences differently.
fn loss_of(logprobs: &Tensor, batch: &SequenceBatch) -> candle_core::Result<Tensor> {
    let probe = Tensor::new(&[1.5f32, -0.5, 2.0], &Device::Cpu)?.reshape((3, 1))?;
    masked(logprobs, batch).broadcast_mul(&probe)?.sum_all()
}

#[test]
fn logprobs_and_gradients_at_a_temperature_match_the_scaled_softmax() {
    let model = Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, DType::F32).unwrap();
    let batch = SequenceBatch::new(&sequences(), 128, &Device::Cpu).unwrap().with_temperature(TEMPERATURE).unwrap();
    let expected = masked(&reference_logprobs(&model, &batch, TEMPERATURE, Grad::None), &batch);
    // The temperature changes the values (so the check below can fail).
    let at_one = masked(&reference_logprobs(&model, &batch, 1.0, Grad::None), &batch);
    assert!(common::relative_difference(&at_one, &expected) > 1e-2);

    let store =
        loss_of(&reference_logprobs(&model, &batch, TEMPERATURE, Grad::Track), &batch).unwrap().backward().unwrap();
    for path in [LogprobPath::Fused, LogprobPath::Naive] {
        let stats = model.response_stats_with(&batch, Grad::None, path).unwrap();
        let err = common::relative_difference(&masked(&stats.logprobs, &batch), &expected);
        assert!(err < 1e-5, "{path:?}: log-probs differ by {err:e}");
        for checkpointing in [false, true] {
            let (grads, _) = model
                .loss_gradients(&batch, path, checkpointing, |stats| Ok((loss_of(&stats.logprobs, &batch)?, ())))
                .unwrap();
            for ((name, var), g) in model.params().iter().zip(&grads) {
                let case = format!("{path:?} checkpointing {checkpointing}: {name}");
                let reference = store.get(var.as_tensor()).unwrap_or_else(|| panic!("{case}: no reference"));
                let err = common::relative_difference(g.as_ref().unwrap(), reference);
                assert!(err < 1e-5, "{case}: relative difference {err:e}");
            }
        }
    }
}

#[test]
fn the_policy_scores_at_its_logprob_temperature() {
    let load = || Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, DType::F32).unwrap();
    let config = TrainConfig { logprob_temperature: TEMPERATURE, ..TrainConfig::default() };
    let policy = Policy::new(load(), config).unwrap();
    let scored = policy.score(&sequences(), 2).unwrap();
    let expected = load().score_at(&sequences(), 3, TEMPERATURE).unwrap();
    let plain = load().score(&sequences(), 3).unwrap();
    for ((s, e), p) in scored.iter().zip(&expected).zip(&plain) {
        for ((a, b), c) in s.logprobs.iter().zip(&e.logprobs).zip(&p.logprobs) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            assert!((a - c).abs() > 1e-4, "the temperature was not applied: {a} vs {c}");
        }
    }
    // Greedy rollouts (0) have no sampling distribution: they are scored at 1.
    let greedy = Policy::new(load(), TrainConfig { logprob_temperature: 0.0, ..TrainConfig::default() }).unwrap();
    for (g, p) in greedy.score(&sequences(), 2).unwrap().iter().zip(&plain) {
        for (a, b) in g.logprobs.iter().zip(&p.logprobs) {
            assert!((a - b).abs() < 1e-5, "greedy rollouts scored at {a}, at temperature 1 {b}");
        }
    }
    for bad in [-1.0, f64::NAN, f64::INFINITY] {
        let config = TrainConfig { logprob_temperature: bad, ..TrainConfig::default() };
        let err = Policy::new(load(), config).err().expect("a bad temperature is refused").to_string();
        assert!(err.contains("logprob_temperature"), "{err}");
    }
}
