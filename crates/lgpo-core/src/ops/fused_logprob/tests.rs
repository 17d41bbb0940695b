//! The fused kernels against [`token_stats_slow`], finite differences and f64.

use candle_core::{DType, Device, Tensor, Var};

use super::op::{backward_by_op, FusedLogprob};
use super::*;
use crate::ops::testing::{assert_close, finite_difference_grad, random_tensor};

/// Small tiles so that a few dozen rows span several blocks, tiles and threads, with N and V
/// multiples of neither.
const SMALL: Chunks = Chunks { tokens: 4, vocab: 8 };

fn random_targets(n: usize, v: usize, seed: u64) -> Result<Tensor> {
    let mut rng = crate::rng::SplitMix64::new(seed);
    let ids: Vec<u32> = (0..n).map(|_| (rng.next_u64() % v as u64) as u32).collect();
    Ok(Tensor::new(ids, &Device::Cpu)?)
}

/// The log-probs through the op, its forward keeping the logits for the backward or not.
fn logprobs_keeping(hidden: &Tensor, head: &Tensor, targets: &Tensor, chunks: Chunks, keep: bool) -> Result<Tensor> {
    let out = hidden.apply_op3(head, targets, FusedLogprob::new(chunks, None, keep))?;
    Ok(out.narrow(1, 0, 1)?.squeeze(1)?)
}

/// Forward values and the gradients of Σ probe · logp through both paths, the backward with
/// the logits kept by the forward and recomputed.
fn compare_with_naive(n: usize, d: usize, v: usize, chunks: Chunks) -> Result<()> {
    let hidden = Var::from_tensor(&random_tensor(&[n, d], 1, DType::F32)?)?;
    let head = Var::from_tensor(&random_tensor(&[v, d], 2, DType::F32)?)?;
    let targets = random_targets(n, v, 3)?;
    // Every third row without gradient (padding): the backward skips those rows.
    let mask: Vec<f32> = (0..n).map(|i| if i % 3 == 1 { 0.0 } else { 1.0 }).collect();
    let probe = (random_tensor(&[n], 4, DType::F32)? * Tensor::new(mask, &Device::Cpu)?)?;
    let fused = fused_token_stats_chunked(&hidden, &head, &targets, chunks)?;
    let naive = token_stats_slow(&hidden, &head, &targets)?;
    assert_close(&fused.logprobs, &naive.logprobs, 1e-5, "log-probs");
    assert_close(&fused.entropy, &naive.entropy, 1e-5, "entropy");
    let naive_grads = (naive.logprobs * &probe)?.sum_all()?.backward()?;
    for keep in [true, false] {
        let logprobs = logprobs_keeping(&hidden, &head, &targets, chunks, keep)?;
        let fused_grads = (logprobs * &probe)?.sum_all()?.backward()?;
        for (name, var) in [("dL/dh", &hidden), ("dL/dW", &head)] {
            let got = fused_grads.get(var).expect("fused gradient");
            assert!(got.abs()?.sum_all()?.to_scalar::<f32>()? > 0.0, "{name} is zero (keep {keep})");
            assert_close(got, naive_grads.get(var).expect("naive gradient"), 1e-5, name);
        }
    }
    Ok(())
}

/// The forward keeps the logits only where a backward can follow and they fit the budget.
#[test]
fn keeps_logits_for_training_within_the_budget() -> Result<()> {
    let (hidden, head) = (random_tensor(&[4, 8], 1, DType::F32)?, random_tensor(&[16, 8], 2, DType::F32)?);
    let tracked = Var::from_tensor(&hidden)?;
    assert!(!keeps_logits(&hidden, &head), "no graph, nothing to keep");
    assert!(keeps_logits(&tracked, &head) && keeps_logits(&hidden, Var::from_tensor(&head)?.as_tensor()));
    let rows = KEEP_LOGITS_BYTES / (4 * 16) + 1;
    let long = Var::from_tensor(&Tensor::zeros((rows, 8), DType::F32, &Device::Cpu)?)?;
    assert!(!keeps_logits(&long, &head), "over the budget: recomputed");
    Ok(())
}

#[test]
fn matches_naive_path_on_ragged_tiles() -> Result<()> {
    compare_with_naive(37, 16, 101, SMALL)
}

#[test]
fn matches_naive_path_with_default_chunks() -> Result<()> {
    compare_with_naive(CHUNK_TOKENS + 3, 24, 2 * CHUNK_VOCAB + 5, DEFAULT_CHUNKS)
}

/// A vocabulary smaller than one tile (one thread's range, one partial tile).
#[test]
fn matches_naive_path_below_one_tile() -> Result<()> {
    compare_with_naive(3, 5, 6, DEFAULT_CHUNKS)
}

/// A tied head: the hidden states come from the embedding too, so dL/dW collects the
/// head's gradient and the one through the hidden states.
#[test]
fn tied_head_gradient_matches_naive_path() -> Result<()> {
    let (n, d, v) = (13, 8, 30);
    let embedding = Var::from_tensor(&random_tensor(&[v, d], 20, DType::F32)?)?;
    let inputs = random_targets(n, v, 21)?;
    let targets = random_targets(n, v, 22)?;
    let grad = |path: fn(&Tensor, &Tensor, &Tensor) -> Result<TokenStats>| -> Result<Tensor> {
        let hidden = (embedding.embedding(&inputs)?.tanh()? * 3.0)?;
        let loss = path(&hidden, &embedding, &targets)?.logprobs.sum_all()?;
        Ok(loss.backward()?.get(&embedding).expect("embedding gradient").clone())
    };
    let fused = |h: &Tensor, w: &Tensor, t: &Tensor| fused_token_stats_chunked(h, w, t, SMALL);
    assert_close(&grad(fused)?, &grad(token_stats_slow)?, 1e-5, "tied dL/dW");
    Ok(())
}

/// The backward through the packed-output op (the CUDA route) drops the rows without
/// gradient and scatters dL/dh back: the same gradients as the naive path.
#[test]
fn backward_by_op_matches_naive_path() -> Result<()> {
    let (n, d, v) = (23, 12, 41);
    let hidden = random_tensor(&[n, d], 30, DType::F32)?;
    let head = random_tensor(&[v, d], 31, DType::F32)?;
    let targets = random_targets(n, v, 32)?;
    let out = hidden.apply_op3_no_bwd(&head, &targets, &FusedLogprob::new(SMALL, None, false))?;
    let (h, w) = (Var::from_tensor(&hidden)?, Var::from_tensor(&head)?);
    for mask in [vec![1f32; n], (0..n).map(|i| (i % 4 == 1) as u8 as f32).collect(), vec![0f32; n]] {
        let probe = (random_tensor(&[n], 33, DType::F32)? * Tensor::new(mask, &Device::Cpu)?)?;
        let grad = Tensor::stack(&[&probe, &probe.zeros_like()?, &probe.zeros_like()?], 1)?; // (n, 3)
        let (dh, dw) = backward_by_op(&hidden, &head, &targets, &out, &grad, SMALL)?;
        let naive = (token_stats_slow(&h, &w, &targets)?.logprobs * &probe)?.sum_all()?.backward()?;
        assert_close(&dh, naive.get(&h).expect("naive dL/dh"), 1e-5, "dL/dh by op");
        assert_close(&dw, naive.get(&w).expect("naive dL/dW"), 1e-5, "dL/dW by op");
    }
    Ok(())
}

#[test]
fn backward_matches_finite_differences() -> Result<()> {
    let hidden = Var::from_tensor(&random_tensor(&[7, 5], 5, DType::F64)?)?;
    let head = Var::from_tensor(&random_tensor(&[11, 5], 6, DType::F64)?)?;
    let targets = random_targets(7, 11, 7)?;
    let probe = random_tensor(&[7], 8, DType::F64)?;
    let loss = |h: &Tensor, w: &Tensor| -> Result<Tensor> {
        Ok((fused_token_stats_chunked(h, w, &targets, Chunks { tokens: 3, vocab: 4 })?.logprobs * &probe)?.sum_all()?)
    };
    let grads = loss(&hidden, &head)?.backward()?;
    let fd_h = finite_difference_grad(&hidden, |h| loss(h, &head))?;
    let fd_w = finite_difference_grad(&head, |w| loss(&hidden, w))?;
    assert_close(grads.get(&hidden).expect("grad of hidden"), &fd_h, 1e-7, "fused dL/dh");
    assert_close(grads.get(&head).expect("grad of head"), &fd_w, 1e-7, "fused dL/dW");
    Ok(())
}

/// Logits up to ±1e4 with near-ties (head rows in close pairs, half the targets the argmax):
/// nothing overflows and the f32 kernel is as close to the naive path in f64 as f32 logits
/// allow (1e4 · 2^-24 ≈ 1e-3 rounding per logit).
#[test]
fn extreme_logits_match_naive_f64() -> Result<()> {
    let (n, d, pairs) = (29, 16, 27);
    let base = random_tensor(&[pairs, d], 10, DType::F64)?;
    let head = Tensor::cat(&[&base, &(&base + (random_tensor(&[pairs, d], 11, DType::F64)? * 1e-3)?)?], 0)?;
    let hidden = random_tensor(&[n, d], 9, DType::F64)?;
    let scale = 1e4 / hidden.matmul(&head.t()?)?.abs()?.max_all()?.to_scalar::<f64>()?;
    let (hidden, head) = ((hidden * scale)?.to_dtype(DType::F32)?, head.to_dtype(DType::F32)?);
    let (h64, w64) = (hidden.to_dtype(DType::F64)?, head.to_dtype(DType::F64)?);
    let argmax: Vec<u32> = h64.matmul(&w64.t()?)?.argmax(1)?.to_vec1()?;
    let random: Vec<u32> = random_targets(n, 2 * pairs, 12)?.to_vec1()?;
    let targets: Vec<u32> = (0..n).map(|i| if i % 2 == 0 { argmax[i] } else { random[i] }).collect();
    let targets = Tensor::new(targets, &Device::Cpu)?;
    let fused = fused_token_stats_chunked(&hidden, &head, &targets, SMALL)?;
    let exact = token_stats_slow(&h64, &w64, &targets)?;
    for (got, want, what) in
        [(&fused.logprobs, &exact.logprobs, "log-probs"), (&fused.entropy, &exact.entropy, "entropy")]
    {
        let (got, want): (Vec<f32>, Vec<f64>) = (got.to_vec1()?, want.to_vec1()?);
        let err = got.iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
        assert!(got.iter().all(|x| x.is_finite()) && err < 2e-3, "{what}: max abs error {err:e}");
    }
    Ok(())
}

#[test]
fn half_inputs_are_upcast_per_tile() -> Result<()> {
    let hidden = random_tensor(&[9, 8], 12, DType::BF16)?;
    let head = random_tensor(&[21, 8], 13, DType::BF16)?;
    let targets = random_targets(9, 21, 14)?;
    let fused = fused_token_stats_chunked(&hidden, &head, &targets, SMALL)?;
    let exact = token_stats_slow(&hidden.to_dtype(DType::F32)?, &head.to_dtype(DType::F32)?, &targets)?;
    assert_eq!(fused.logprobs.dtype(), DType::F32);
    assert_close(&fused.logprobs, &exact.logprobs, 1e-5, "bf16 log-probs");
    assert_close(&fused.entropy, &exact.entropy, 1e-5, "bf16 entropy");
    Ok(())
}

#[test]
fn entropy_carries_no_gradient() -> Result<()> {
    let hidden = Var::from_tensor(&random_tensor(&[3, 4], 15, DType::F32)?)?;
    let head = Var::from_tensor(&random_tensor(&[5, 4], 16, DType::F32)?)?;
    let stats = fused_token_stats(&hidden, &head, &random_targets(3, 5, 17)?)?;
    let grads = stats.entropy.sum_all()?.backward()?;
    assert!(grads.get(&hidden).is_none() && grads.get(&head).is_none());
    Ok(())
}

#[test]
fn rejects_bad_inputs() {
    let hidden = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
    let head = Tensor::zeros((5, 4), DType::F32, &Device::Cpu).unwrap();
    let cases = [
        (Tensor::zeros((5, 3), DType::F32, &Device::Cpu).unwrap(), Tensor::new(&[0u32, 1], &Device::Cpu).unwrap()),
        (head.clone(), Tensor::new(&[0u32, 1, 2], &Device::Cpu).unwrap()),
        (head.clone(), Tensor::new(&[0u32, 5], &Device::Cpu).unwrap()),
        (head.clone(), Tensor::new(&[0i64, 1], &Device::Cpu).unwrap()),
        (head.to_dtype(DType::F64).unwrap(), Tensor::new(&[0u32, 1], &Device::Cpu).unwrap()),
    ];
    for (head, targets) in cases {
        let err = fused_token_stats(&hidden, &head, &targets).unwrap_err().to_string();
        assert!(err.contains("token_stats"), "{err}");
    }
}
