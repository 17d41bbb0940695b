//! `Qwen2::loss_gradients` routes the LM head's and the embedding's gradients past candle's
//! gradient store (a sink for the head, an in-place row update for the embedding). Its
//! gradients must equal candle's own backward through the recorded graph of
//! `response_stats_with(Grad::Track)`, for every parameter: tied and untied heads, f32 and
//! bf16, both log-prob paths, with and without activation checkpointing.

mod common;

use candle_core::{DType, Device, Tensor};
use lgpo_core::model::{Grad, LogprobPath, Qwen2, Sequence, SequenceBatch};
use lgpo_core::rng::SplitMix64;

fn sequences(n: usize, vocab: u64, seed: u64) -> Vec<Sequence> {
    let mut rng = SplitMix64::new(seed);
    let mut int = |lo: u64, hi: u64| lo + rng.next_u64() % (hi - lo);
    (0..n)
        .map(|_| Sequence {
            // Repeated ids, so that rows of the embedding collect several gradients.
            prompt: (0..int(2, 7)).map(|_| int(0, vocab / 8) as u32).collect(),
            response: (0..int(1, 9)).map(|_| int(0, vocab) as u32).collect(),
        })
        .collect()
}

/// A loss that weights each sequence's log-probs differently (one sequence not at all).
fn loss_of(logprobs: &Tensor, batch: &SequenceBatch) -> candle_core::Result<Tensor> {
    let probe = Tensor::new(&[1.5f32, -0.5, 0.0, 2.0], &Device::Cpu)?.reshape((4, 1))?;
    (logprobs.to_dtype(DType::F32)?.broadcast_mul(&probe)? * batch.response_mask.to_dtype(DType::F32)?)?.sum_all()
}

#[test]
fn loss_gradients_equal_candles_backward_of_the_recorded_graph() {
    for (fixture, dtype, tol) in
        [("tiny_tied", DType::F32, 1e-5), ("tiny_untied", DType::F32, 1e-5), ("tiny_tied", DType::BF16, 2e-2)]
    {
        let model = Qwen2::load(common::fixtures_dir().join(fixture), &Device::Cpu, dtype).unwrap();
        let batch = SequenceBatch::new(&sequences(4, 128, 21), 128, &Device::Cpu).unwrap();
        for path in [LogprobPath::Fused, LogprobPath::Naive] {
            let stats = model.response_stats_with(&batch, Grad::Track, path).unwrap();
            let store = loss_of(&stats.logprobs, &batch).unwrap().backward().unwrap();
            for checkpointing in [false, true] {
                let (grads, loss) = model
                    .loss_gradients(&batch, path, checkpointing, |stats| {
                        let loss = loss_of(&stats.logprobs, &batch)?;
                        Ok((loss.clone(), loss.to_scalar::<f32>()?))
                    })
                    .unwrap();
                assert!(loss.is_finite());
                for ((name, var), g) in model.params().iter().zip(&grads) {
                    let case = format!("{fixture} {dtype:?} {path:?} checkpointing {checkpointing}: {name}");
                    let expected = store.get(var.as_tensor()).unwrap_or_else(|| panic!("{case}: no reference"));
                    let g = g.as_ref().unwrap_or_else(|| panic!("{case}: no gradient"));
                    assert_eq!(g.dtype(), DType::F32, "{case}");
                    let err = common::relative_difference(g, &expected.to_dtype(DType::F32).unwrap());
                    assert!(err < tol, "{case}: relative difference {err:e}");
                }
            }
        }
    }
}
