//! Correctness on a device against the CPU: the custom kernels against their compositions, the
//! AdamW kernels against the CPU update, and the golden fixture models (logits, log-probs,
//! entropies, every parameter's gradient, checkpointed gradients, generation against scoring)
//! against the same models on the CPU in the same dtype (bf16 against bf16: the device must
//! compute what the CPU computes; how far bf16 is from f32 is a property of bf16, checked on the
//! CPU by lgpo-core's tests/mixed_precision.rs). Tolerances are relative (‖a − b‖ / ‖b‖): 1e-3 for
//! f32 and 2e-2 for bf16 through a model, 1e-4 for an f32 kernel against its composition.
//!
//! On the CPU (a dry run) the same code runs; the model comparisons are then trivially exact,
//! while the kernel checks (bf16 kernels against f32 compositions) are real.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use lgpo_core::device::dtype_name;
use lgpo_core::generate::{generate, SamplingParams};
use lgpo_core::model::{Grad, LogprobPath, Qwen2, Sequence, SequenceBatch, TokenStats};
use lgpo_core::ops::token_stats_slow;
use lgpo_core::ops::{fused_logprob::Chunks, fused_token_stats_chunked, rms_norm, rms_norm_slow, rope, rope_slow};
use lgpo_core::optim::{AdamW, AdamWConfig};
use lgpo_core::rng::SplitMix64;
use lgpo_core::Result;

use crate::report::Comparisons;

/// Relative tolerance of a model computed in `dtype` against the CPU model in `dtype`.
pub fn model_tolerance(dtype: DType) -> f64 {
    if dtype == DType::F32 {
        1e-3
    } else {
        2e-2
    }
}

/// Relative tolerance of a kernel in `dtype` against its composition (in f32 for half inputs).
fn kernel_tolerance(dtype: DType) -> f64 {
    if dtype == DType::F32 {
        1e-4
    } else {
        2e-2
    }
}

/// The fixture checkpoints compared with the CPU.
pub const FIXTURES: [&str; 2] = ["tiny_tied", "tiny_untied"];

/// Runs every check on `device`, reading the golden fixtures from `fixtures`.
pub fn run(device: &Device, fixtures: &Path) -> Result<Comparisons> {
    let mut out = Comparisons::default();
    let mut seeds = SplitMix64::new(0x6c67706f); // fresh inputs for every check
    for dtype in [DType::F32, DType::BF16] {
        kernels(device, dtype, &mut seeds, &mut out)?;
        optimizer(device, dtype, &mut out)?;
    }
    for fixture in FIXTURES {
        let dir = fixtures.join(fixture);
        let golden = Golden::load(&fixtures.join(format!("{fixture}.golden.safetensors")))?;
        for dtype in [DType::F32, DType::BF16] {
            let cpu = Qwen2::load(&dir, &Device::Cpu, dtype)?;
            let model = Qwen2::load(&dir, device, dtype)?;
            model_against_cpu(fixture, &model, &cpu, &golden, &mut out)?;
            generation_against_scoring(fixture, &model, &mut out)?;
        }
    }
    Ok(out)
}

/// A random tensor of `shape` on `device` in `dtype`.
fn random(shape: &[usize], seeds: &mut SplitMix64, scale: f64, dtype: DType, device: &Device) -> Result<Tensor> {
    let mut rng = SplitMix64::new(seeds.next_u64());
    let values: Vec<f32> = (0..shape.iter().product()).map(|_| (rng.next_normal() * scale) as f32).collect();
    Ok(Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?)
}

fn random_ids(n: usize, vocab: usize, seeds: &mut SplitMix64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seeds.next_u64());
    (0..n).map(|_| (rng.next_u64() % vocab as u64) as u32).collect()
}

/// Gradients of Σ probe ⊙ f(inputs) for each input, as f32.
fn grads_of(inputs: &[&Var], output: &Tensor, probe: &Tensor) -> Result<Vec<Tensor>> {
    let store = (output.to_dtype(DType::F32)? * probe)?.sum_all()?.backward()?;
    inputs
        .iter()
        .map(|v| Ok(store.get(v.as_tensor()).expect("every input gets a gradient").to_dtype(DType::F32)?))
        .collect()
}

/// rms_norm, rope and the fused log-prob op against their compositions, forward and backward.
/// For half inputs the reference is the composition on the same values upcast to f32.
fn kernels(device: &Device, dtype: DType, seeds: &mut SplitMix64, out: &mut Comparisons) -> Result<()> {
    let (tol, name) = (kernel_tolerance(dtype), dtype_name(dtype));
    let upcast = |t: &Tensor| -> Result<Var> { Ok(Var::from_tensor(&t.to_dtype(DType::F32)?)?) };

    // rms_norm over a width that is not a multiple of the block size.
    let (x, w) = (random(&[3, 37, 200], seeds, 1.0, dtype, device)?, random(&[200], seeds, 1.0, dtype, device)?);
    let probe = random(&[3, 37, 200], seeds, 1.0, DType::F32, device)?;
    let (xv, wv) = (Var::from_tensor(&x)?, Var::from_tensor(&w)?);
    let (xr, wr) = (upcast(&x)?, upcast(&w)?);
    let (y, y_ref) = (rms_norm(&xv, &wv, 1e-6)?, rms_norm_slow(&xr, &wr, 1e-6)?);
    out.compare(format!("rms_norm {name} forward"), &y, &y_ref, tol)?;
    let (g, g_ref) = (grads_of(&[&xv, &wv], &y, &probe)?, grads_of(&[&xr, &wr], &y_ref, &probe)?);
    out.compare(format!("rms_norm {name} dL/dx"), &g[0], &g_ref[0], tol)?;
    out.compare(format!("rms_norm {name} dL/dw"), &g[1], &g_ref[1], tol)?;

    // rope with per-row angles.
    let x = random(&[2, 3, 17, 64], seeds, 1.0, dtype, device)?;
    let theta = random(&[2, 17, 32], seeds, 3.0, DType::F32, device)?;
    let (cos, sin) = (theta.cos()?.to_dtype(dtype)?, theta.sin()?.to_dtype(dtype)?);
    let probe = random(&[2, 3, 17, 64], seeds, 1.0, DType::F32, device)?;
    let (xv, xr) = (Var::from_tensor(&x)?, upcast(&x)?);
    let (cr, sr) = (cos.to_dtype(DType::F32)?, sin.to_dtype(DType::F32)?);
    let (y, y_ref) = (rope(&xv, &cos, &sin)?, rope_slow(&xr, &cr, &sr)?);
    out.compare(format!("rope {name} forward"), &y, &y_ref, tol)?;
    let (g, g_ref) = (grads_of(&[&xv], &y, &probe)?, grads_of(&[&xr], &y_ref, &probe)?);
    out.compare(format!("rope {name} dL/dx"), &g[0], &g_ref[0], tol)?;

    // The fused log-prob op: small ragged tiles, the device's default tiles, and on a GPU the
    // real head of Qwen2.5 (V = 151,936, d = 896), every third row without gradient.
    let mut cases = vec![
        ("small tiles", 300, 64, 1000, Some(Chunks { tokens: 128, vocab: 384 })),
        ("default tiles", 300, 64, 1000, None),
    ];
    if device.is_cuda() {
        cases.push(("Qwen2.5 head", 2048, 896, 151_936, None));
    }
    for (case, n, d, v, chunks) in cases {
        let chunks = chunks.unwrap_or_else(|| Chunks::for_device(device));
        let hidden = random(&[n, d], seeds, 1.0, dtype, device)?;
        let head = random(&[v, d], seeds, 0.05, dtype, device)?;
        let targets = Tensor::new(random_ids(n, v, seeds), device)?;
        let mask: Vec<f32> = (0..n).map(|i| if i % 3 == 1 { 0.0 } else { 1.0 }).collect();
        let probe = (random(&[n], seeds, 1.0, DType::F32, device)? * Tensor::new(mask, device)?)?;
        let (hv, wv, hr, wr) = (Var::from_tensor(&hidden)?, Var::from_tensor(&head)?, upcast(&hidden)?, upcast(&head)?);
        let fused = fused_token_stats_chunked(&hv, &wv, &targets, chunks)?;
        let naive = token_stats_slow(&hr, &wr, &targets)?;
        let label = format!("fused_logprob {name} {case}");
        out.compare(format!("{label} log-probs"), &fused.logprobs, &naive.logprobs, tol)?;
        out.compare(format!("{label} entropy"), &fused.entropy, &naive.entropy, tol)?;
        let g = grads_of(&[&hv, &wv], &fused.logprobs, &probe)?;
        let g_ref = grads_of(&[&hr, &wr], &naive.logprobs, &probe)?;
        out.compare(format!("{label} dL/dh"), &g[0], &g_ref[0], tol)?;
        out.compare(format!("{label} dL/dW"), &g[1], &g_ref[1], tol)?;
    }
    Ok(())
}

/// Three AdamW steps of a parameter on `device` against the same steps on the CPU (f32 master
/// and moments in both; the in-place kernels against the CPU kernels).
fn optimizer(device: &Device, dtype: DType, out: &mut Comparisons) -> Result<()> {
    let init: Vec<f32> = (0..10_007).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect();
    let on = |dev: &Device| -> Result<Vec<(String, Var)>> {
        Ok(vec![("w".to_string(), Var::from_tensor(&Tensor::new(init.as_slice(), dev)?.to_dtype(dtype)?)?)])
    };
    let (params, cpu_params) = (on(device)?, on(&Device::Cpu)?);
    let config = AdamWConfig { lr: 1e-2, weight_decay: 0.1, ..AdamWConfig::default() };
    let (mut opt, mut cpu_opt) = (AdamW::new(&params, config)?, AdamW::new(&cpu_params, config)?);
    for step in 1..=3 {
        let g: Vec<f32> = init.iter().map(|x| (x * 3.0).sin() * step as f32).collect();
        opt.step(&params, &[Tensor::new(g.as_slice(), device)?], 1e-2)?;
        cpu_opt.step(&cpu_params, &[Tensor::new(g.as_slice(), &Device::Cpu)?], 1e-2)?;
    }
    let name = format!("adamw {} 3 steps", dtype_name(dtype));
    out.compare(name, params[0].1.as_tensor(), cpu_params[0].1.as_tensor(), kernel_tolerance(DType::F32))
}

/// The inputs and per-token weights of a golden fixture (made by scripts/fixtures/qwen2_golden.py).
struct Golden {
    tensors: HashMap<String, Tensor>,
}

impl Golden {
    fn load(path: &Path) -> Result<Golden> {
        Ok(Golden { tensors: candle_core::safetensors::load(path, &Device::Cpu)? })
    }

    fn get(&self, name: &str, device: &Device, dtype: DType) -> Result<Tensor> {
        match self.tensors.get(name) {
            Some(t) => Ok(t.to_dtype(dtype)?.to_device(device)?),
            None => lgpo_core::bail_input!("golden fixture has no tensor `{name}`"),
        }
    }
}

/// Logits, then log-probs and entropies of token t+1 at every position t with the loss
/// Σ weights ⊙ log-probs and its gradient for every parameter, on the golden batch.
struct Outputs {
    logits: Tensor,
    stats: TokenStats,
    grads: Vec<Tensor>,
}

fn outputs(model: &Qwen2, golden: &Golden) -> Result<Outputs> {
    let device = model.device();
    let ids = golden.get("input_ids", device, DType::U32)?;
    let mask = golden.get("attention_mask", device, DType::U32)?;
    let positions = golden.get("position_ids", device, DType::U32)?;
    let valid = golden.get("attention_mask", device, DType::F32)?.unsqueeze(2)?;
    let logits = model.logits(&ids, &mask, &positions, Grad::None)?.broadcast_mul(&valid)?;
    let hidden = model.forward_hidden(&ids, &mask, &positions, Grad::Track)?;
    let (b, t, d) = hidden.dims3()?;
    let scored = hidden.narrow(1, 0, t - 1)?.reshape((b * (t - 1), d))?;
    let targets = ids.narrow(1, 1, t - 1)?.flatten_all()?;
    let head = if model.config().tie_word_embeddings { "model.embed_tokens.weight" } else { "lm_head.weight" };
    let head = model.params().iter().find(|(n, _)| n == head).expect("the model has its head").1.as_tensor();
    let stats = LogprobPath::Fused.token_stats(&scored, head, &targets)?;
    let valid = golden.get("valid", device, DType::F32)?;
    let stats = TokenStats {
        logprobs: (stats.logprobs.reshape((b, t - 1))? * &valid)?,
        entropy: (stats.entropy.reshape((b, t - 1))? * &valid)?,
    };
    let loss = (&stats.logprobs * golden.get("weights", device, DType::F32)?)?.sum_all()?;
    let store = loss.backward()?;
    let grads = model
        .params()
        .iter()
        .map(|(name, var)| match store.get(var.as_tensor()) {
            Some(g) => Ok(g.to_dtype(DType::F32)?),
            None => lgpo_core::bail_input!("no gradient reached {name}"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Outputs { logits, stats: TokenStats { logprobs: stats.logprobs.detach(), entropy: stats.entropy }, grads })
}

/// A small padded batch and the gradients of Σ probe ⊙ response log-probs, checkpointed or not.
fn checkpoint_gradients(model: &Qwen2, checkpointing: bool) -> Result<Vec<Tensor>> {
    let sequences = vec![
        Sequence { prompt: vec![5, 9, 2], response: vec![7, 1, 1, 4] },
        Sequence { prompt: vec![3], response: vec![8, 2] },
        Sequence { prompt: vec![11, 12, 13, 14, 15], response: vec![6, 6, 6] },
    ];
    let device = model.device();
    let batch = SequenceBatch::new(&sequences, model.config().vocab_size, device)?;
    let probe = Tensor::new(&[[1.0f32], [-2.0], [0.5]], device)?;
    let (grads, ()) = model.loss_gradients(&batch, LogprobPath::Fused, checkpointing, |stats| {
        Ok(((stats.logprobs.broadcast_mul(&probe)? * &batch.response_mask)?.sum_all()?, ()))
    })?;
    grads
        .into_iter()
        .zip(model.params())
        .map(|(g, (name, _))| g.ok_or_else(|| lgpo_core::Error::input(format!("no gradient reached {name}"))))
        .collect()
}

fn model_against_cpu(fixture: &str, model: &Qwen2, cpu: &Qwen2, golden: &Golden, out: &mut Comparisons) -> Result<()> {
    let tol = model_tolerance(model.dtype());
    let label = format!("{fixture} {}", dtype_name(model.dtype()));
    let (got, want) = (outputs(model, golden)?, outputs(cpu, golden)?);
    out.compare(format!("{label} logits"), &got.logits, &want.logits, tol)?;
    out.compare(format!("{label} log-probs"), &got.stats.logprobs, &want.stats.logprobs, tol)?;
    out.compare(format!("{label} entropies"), &got.stats.entropy, &want.stats.entropy, tol)?;
    for ((name, _), (g, w)) in model.params().iter().zip(got.grads.iter().zip(&want.grads)) {
        out.compare(format!("{label} grad {name}"), g, w, tol)?;
    }
    let want = checkpoint_gradients(cpu, false)?;
    let got = checkpoint_gradients(model, true)?;
    let worst = got.iter().zip(&want).map(|(g, w)| crate::report::relative_error(g, w)).collect::<Result<Vec<_>>>()?;
    out.record(format!("{label} checkpointed grads (worst parameter)"), worst.into_iter().fold(0.0, f64::max), tol);
    Ok(())
}

/// Sampled tokens' log-probs from generation (KV cache, one token at a time) against the
/// log-probs of the same sequences from the scoring forward, on the same device.
fn generation_against_scoring(fixture: &str, model: &Qwen2, out: &mut Comparisons) -> Result<()> {
    let prompts: Vec<Vec<u32>> = vec![vec![1, 17, 33], vec![90, 4, 4, 4, 21, 8, 60], vec![5]];
    let params = SamplingParams { temperature: 1.0, max_new_tokens: 12, seed: 7, ..SamplingParams::default() };
    let generations = generate(model, &prompts, &params)?;
    let sequences: Vec<Sequence> = prompts
        .iter()
        .zip(&generations)
        .map(|(p, g)| Sequence { prompt: p.clone(), response: g.tokens.clone() })
        .collect();
    let scores = model.score(&sequences, sequences.len())?;
    let sampled: Vec<f32> = generations.iter().flat_map(|g| g.logprobs.iter().copied()).collect();
    let scored: Vec<f32> = scores.iter().flat_map(|s| s.logprobs.iter().copied()).collect();
    let (a, b) = (Tensor::new(sampled, &Device::Cpu)?, Tensor::new(scored, &Device::Cpu)?);
    let name = format!("{fixture} {} generation vs scoring log-probs", dtype_name(model.dtype()));
    out.compare(name, &a, &b, model_tolerance(model.dtype()))
}
