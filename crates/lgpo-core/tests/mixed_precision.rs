//! bf16 mixed precision, checked on the CPU (candle's CPU backend computes in bf16 too): bf16
//! weights and activations; f32 log-probs, losses and gradient sums; f32 master weights and AdamW
//! state. A bf16 training step against the f32 one on the tiny fixture model.
//!
//! The tiny random fixture is a hard case for bf16: its logits are nearly uniform, so the
//! gradient of a log-prob is a small difference of large terms. Rounding the weights alone moves
//! the gradients by 1-2% (relative); computing in bf16 on the same weights adds about 2%. The
//! tolerances below sit above those measured errors.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use lgpo_core::model::{Grad, Qwen2, Sequence, SequenceBatch};
use lgpo_core::objectives::{Objective, ObjectiveConfig};
use lgpo_core::optim::AdamWConfig;
use lgpo_core::policy::{Minibatch, Policy, TrainConfig};
use lgpo_core::rng::SplitMix64;

fn minibatch(n: usize, seed: u64, advantages: &[f32]) -> Minibatch {
    let mut rng = SplitMix64::new(seed);
    let mut int = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo);
    let sequences: Vec<Sequence> = (0..n)
        .map(|_| Sequence {
            prompt: (0..int(2, 7)).map(|_| int(0, 128) as u32).collect(),
            response: (0..int(1, 9)).map(|_| int(0, 128) as u32).collect(),
        })
        .collect();
    let advantages = (0..n).map(|i| advantages[i % advantages.len()]).collect();
    Minibatch { sequences, advantages, ..Minibatch::default() }
}

fn policy(dtype: DType) -> Policy {
    let model = Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, dtype).unwrap();
    let optimizer = AdamWConfig { lr: 1e-3, weight_decay: 0.0, ..AdamWConfig::default() };
    Policy::new(model, TrainConfig { micro_batch_size: 4, optimizer, ..TrainConfig::default() }).unwrap()
}

/// Copies of the weights in f32 (copies: the optimizer updates the parameters in place).
fn f32_weights(policy: &Policy) -> Vec<Tensor> {
    policy.model().params().iter().map(|(_, v)| v.as_tensor().to_dtype(DType::F32).unwrap().copy().unwrap()).collect()
}

fn norm(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f64>().unwrap()
}

fn relative_difference(a: &Tensor, b: &Tensor) -> f64 {
    norm(&(a - b).unwrap()) / norm(b).max(1e-30)
}

fn optimizer_state(policy: &Policy) -> HashMap<String, Tensor> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    policy.optimizer().save(&path).unwrap();
    candle_core::safetensors::load(&path, &Device::Cpu).unwrap()
}

/// bf16 compute against f32 compute on the same (bf16-rounded) weights: the error of computing
/// in bf16 alone. Measured (2026-11-27): parameters' gradients 0.9-4.8% (median 2.4%, the worst
/// a key bias whose gradient nearly cancels), all gradients together 2.4%, log-probs 0.4%.
#[test]
fn bf16_compute_matches_f32_compute_on_the_same_weights() {
    let data = minibatch(12, 1, &[1.0, 0.5, 2.0]);
    let objective = Objective::from_config(&ObjectiveConfig::named("pg")).unwrap();
    let p16 = policy(DType::BF16);
    let p32 = policy(DType::F32);
    for ((_, v32), (_, v16)) in p32.model().params().iter().zip(p16.model().params()) {
        v32.set(&v16.as_tensor().to_dtype(DType::F32).unwrap()).unwrap();
    }
    let (g32, g16) = (p32.gradients(&data, &objective).unwrap(), p16.gradients(&data, &objective).unwrap());
    for ((name, _), (a, b)) in p32.model().params().iter().zip(g16.grads.iter().zip(&g32.grads)) {
        assert_eq!(a.dtype(), DType::F32, "{name}: gradients are summed in f32");
        let err = relative_difference(a, b);
        assert!(err < 6e-2, "{name}: the bf16 gradient differs from the f32 one by {err:e} (relative)");
    }
    let all =
        |grads: &[Tensor]| Tensor::cat(&grads.iter().map(|g| g.flatten_all().unwrap()).collect::<Vec<_>>(), 0).unwrap();
    let err = relative_difference(&all(&g16.grads), &all(&g32.grads));
    assert!(err < 3e-2, "the bf16 gradient differs from the f32 one by {err:e} (relative, all parameters)");
    let (l16, l32) = (g16.stats.loss, g32.stats.loss);
    assert!((l16 - l32).abs() < 1e-2 * l32.abs(), "loss {l16} vs {l32}");

    let batch = SequenceBatch::new(&data.sequences, 128, &Device::Cpu).unwrap();
    let (s16, s32) = (
        p16.model().response_stats(&batch, Grad::None).unwrap(),
        p32.model().response_stats(&batch, Grad::None).unwrap(),
    );
    assert_eq!(
        (s16.logprobs.dtype(), s16.entropy.dtype()),
        (DType::F32, DType::F32),
        "f32 log-probs from bf16 compute"
    );
    let masked = |t: &Tensor| (t * &batch.response_mask).unwrap();
    let err = relative_difference(&masked(&s16.logprobs), &masked(&s32.logprobs));
    assert!(err < 1e-2, "log-probs differ by {err:e} (relative)");
}

/// Two LGPO steps from the same checkpoint in bf16 and in f32: the bf16 policy keeps f32
/// masters and f32 moments, its weights are the rounded masters, and the masters move like the
/// f32 weights (Adam's first steps move each weight by about ±lr, so the check is on direction:
/// a weight whose gradient is near zero may move the other way; measured cosine 0.994).
#[test]
fn bf16_step_keeps_f32_masters_that_move_like_the_f32_weights() {
    let data = minibatch(8, 2, &[1.0, -1.0, 0.5, -2.0]);
    let objective = Objective::from_config(&ObjectiveConfig::named("lgpo")).unwrap();
    let (mut p32, mut p16) = (policy(DType::F32), policy(DType::BF16));
    let (before32, before16) = (f32_weights(&p32), f32_weights(&p16));
    for _ in 0..2 {
        p32.train_minibatch(&data, &objective).unwrap();
        p16.train_minibatch(&data, &objective).unwrap();
    }
    let (state16, state32) = (optimizer_state(&p16), optimizer_state(&p32));
    let flat = |t: &Tensor| t.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
    let (mut moves16, mut moves32) = (Vec::new(), Vec::new());
    for (i, (name, var)) in p16.model().params().iter().enumerate() {
        assert_eq!(var.dtype(), DType::BF16, "{name} stays bf16");
        for kind in ["m", "v", "master"] {
            assert_eq!(state16[&format!("{kind}.{name}")].dtype(), DType::F32, "{kind}.{name} is f32");
        }
        assert!(!state32.contains_key(&format!("master.{name}")), "an f32 model needs no master copy");
        let master = &state16[&format!("master.{name}")];
        let rounded = flat(&master.to_dtype(DType::BF16).unwrap()).to_vec1::<f32>().unwrap();
        assert_eq!(rounded, flat(var.as_tensor()).to_vec1::<f32>().unwrap(), "{name}: weights = rounded masters");
        moves16.push(flat(&(master - &before16[i]).unwrap()));
        moves32.push(flat(&(p32.model().params()[i].1.as_tensor() - &before32[i]).unwrap()));
    }
    let (a, b) = (Tensor::cat(&moves16, 0).unwrap(), Tensor::cat(&moves32, 0).unwrap());
    let cosine = (&a * &b).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap() as f64 / (norm(&a) * norm(&b));
    assert!(norm(&b) > 0.0 && cosine > 0.9, "the bf16 masters moved in direction {cosine} of the f32 weights' move");
}
