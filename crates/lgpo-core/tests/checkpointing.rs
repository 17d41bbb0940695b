//! Activation checkpointing per decoder layer gives the gradients of the full backward, for
//! every parameter of the tiny fixture models (tied and untied heads, f32 and bf16), through the
//! model and through the policy's micro-batched training step.

mod common;

use candle_core::{DType, Device, Tensor};
use lgpo_core::model::{LogprobPath, Qwen2, Sequence, SequenceBatch};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};
use lgpo_core::rng::SplitMix64;

fn sequences(n: usize, vocab: u64, seed: u64) -> Vec<Sequence> {
    let mut rng = SplitMix64::new(seed);
    let mut int = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo);
    (0..n)
        .map(|_| Sequence {
            prompt: (0..int(1, 6)).map(|_| int(0, vocab) as u32).collect(),
            response: (0..int(1, 9)).map(|_| int(0, vocab) as u32).collect(),
        })
        .collect()
}

/// max over parameters of ‖a − b‖ / ‖b‖.
fn max_relative_difference(a: &[Tensor], b: &[Tensor]) -> f64 {
    a.iter().zip(b).map(|(x, y)| common::relative_difference(x, y)).fold(0.0, f64::max)
}

fn loss_gradients(model: &Qwen2, batch: &SequenceBatch, path: LogprobPath, checkpointing: bool) -> Vec<Tensor> {
    let probe = Tensor::new(&[1.5f32, -0.5, 2.0, -1.0], &Device::Cpu).unwrap().reshape((4, 1)).unwrap();
    let (grads, loss) = model
        .loss_gradients(batch, path, checkpointing, |stats| {
            let weighted = (stats.logprobs.broadcast_mul(&probe)? * &batch.response_mask)?;
            let loss = weighted.sum_all()?;
            Ok((loss.clone(), loss.to_scalar::<f32>()?))
        })
        .unwrap();
    assert!(loss.is_finite());
    grads
        .into_iter()
        .zip(model.params())
        .map(|(g, (name, _))| {
            let g = g.unwrap_or_else(|| panic!("{name} has no gradient (checkpointing {checkpointing})"));
            assert_eq!(g.dtype(), DType::F32, "{name}");
            let size = g.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(size > 0.0 && size.is_finite(), "{name}: gradient {size}");
            g
        })
        .collect()
}

#[test]
fn checkpointed_gradients_equal_the_full_backward() {
    for (fixture, dtype, tol) in
        [("tiny_tied", DType::F32, 1e-6), ("tiny_untied", DType::F32, 1e-6), ("tiny_tied", DType::BF16, 1e-2)]
    {
        let model = Qwen2::load(common::fixtures_dir().join(fixture), &Device::Cpu, dtype).unwrap();
        let batch = SequenceBatch::new(&sequences(4, 128, 11), 128, &Device::Cpu).unwrap();
        for path in [LogprobPath::Fused, LogprobPath::Naive] {
            let full = loss_gradients(&model, &batch, path, false);
            let checkpointed = loss_gradients(&model, &batch, path, true);
            let err = max_relative_difference(&checkpointed, &full);
            assert!(err < tol, "{fixture} {dtype:?} {path:?}: relative difference {err:e}");
        }
    }
}

/// The policy's step: the same loss (the forward is the same) and the same gradients (in bf16
/// up to the rounding of the tied embedding's two partial gradients, summed in bf16 by the full
/// backward and in f32 by the checkpointed one).
#[test]
fn checkpointing_changes_nothing_in_the_training_step() {
    for (dtype, tol) in [(DType::F32, 1e-6), (DType::BF16, 1e-2)] {
        let data = sequences(12, 128, 12);
        let advantages: Vec<f32> = (0..12).map(|i| [1.0, -1.0, 0.5, 0.0][i % 4]).collect();
        let minibatch = Minibatch { sequences: data, advantages, ..Minibatch::default() };
        let objective = Objective::from_config(&ObjectiveConfig::named("lgpo")).unwrap();
        let policy = |checkpointing| {
            let model = Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, dtype).unwrap();
            let config =
                TrainConfig { micro_batch_size: 5, activation_checkpointing: checkpointing, ..TrainConfig::default() };
            Policy::new(model, config).unwrap()
        };
        let full = policy(false).gradients(&minibatch, &objective).unwrap();
        let checkpointed = policy(true).gradients(&minibatch, &objective).unwrap();
        let err = max_relative_difference(&checkpointed.grads, &full.grads);
        assert!(err < tol, "{dtype:?}: relative difference {err:e}");
        assert_eq!(checkpointed.stats.loss, full.stats.loss);
    }
}
