//! The Rust Qwen2 against Hugging Face transformers: fixtures made by
//! `scripts/fixtures/qwen2_golden.py` (tiny random models, one padded batch with explicit
//! positions: logits, log-probs, entropies, and every parameter's gradient of a fixed loss).

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};
use lgpo_core::model::{Grad, LogprobPath, Qwen2, Sequence, SequenceBatch, TokenStats};

struct Golden {
    tensors: HashMap<String, Tensor>,
}

impl Golden {
    fn load(name: &str) -> Golden {
        let path = common::fixtures_dir().join(format!("{name}.golden.safetensors"));
        Golden { tensors: candle_core::safetensors::load(&path, &Device::Cpu).expect("golden fixture") }
    }

    fn get(&self, name: &str) -> &Tensor {
        self.tensors.get(name).unwrap_or_else(|| panic!("fixture has no `{name}`"))
    }

    fn ids(&self, name: &str) -> Tensor {
        self.get(name).to_dtype(DType::U32).unwrap()
    }
}

fn vec2(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_dtype(DType::F32).unwrap().to_vec2().unwrap()
}

/// max |a − b| over the entries where `mask` (B, T) is 1; a and b are (B, T, ...) f32.
fn max_abs_diff_masked(a: &Tensor, b: &Tensor, mask: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let diff = (a - b).unwrap().abs().unwrap();
    let diff = if diff.rank() == 3 { diff.max(D::Minus1).unwrap() } else { diff };
    let (diff, mask) = (vec2(&diff), vec2(mask));
    diff.iter().flatten().zip(mask.iter().flatten()).filter(|(_, &m)| m > 0.0).map(|(d, _)| *d).fold(0.0, f32::max)
}

const PATHS: [LogprobPath; 2] = [LogprobPath::Fused, LogprobPath::Naive];

/// Log-probs and entropies of token t+1 at every position t, through the model's hidden states.
fn shifted_stats(model: &Qwen2, golden: &Golden, grad: Grad, path: LogprobPath) -> TokenStats {
    let (ids, mask, pos) = (golden.ids("input_ids"), golden.ids("attention_mask"), golden.ids("position_ids"));
    let hidden = model.forward_hidden(&ids, &mask, &pos, grad).unwrap();
    let (b, t, d) = hidden.dims3().unwrap();
    let scored = hidden.narrow(1, 0, t - 1).unwrap().reshape((b * (t - 1), d)).unwrap();
    let targets = ids.narrow(1, 1, t - 1).unwrap().flatten_all().unwrap();
    let head = if model.config().tie_word_embeddings { "model.embed_tokens.weight" } else { "lm_head.weight" };
    let head = model.params().iter().find(|(n, _)| n == head).unwrap().1.as_tensor().clone();
    let head = if grad == Grad::Track { head } else { head.detach() };
    let stats = path.token_stats(&scored, &head, &targets).unwrap();
    TokenStats {
        logprobs: stats.logprobs.reshape((b, t - 1)).unwrap(),
        entropy: stats.entropy.reshape((b, t - 1)).unwrap(),
    }
}

fn check_forward(name: &str) {
    let golden = Golden::load(name);
    let model = Qwen2::load(common::fixtures_dir().join(name), &Device::Cpu, DType::F32).unwrap();
    let (ids, mask, pos) = (golden.ids("input_ids"), golden.ids("attention_mask"), golden.ids("position_ids"));
    let logits = model.logits(&ids, &mask, &pos, Grad::None).unwrap();
    let err = max_abs_diff_masked(&logits, golden.get("logits"), golden.get("attention_mask"));
    assert!(err < 1e-4, "{name}: logits differ from transformers by {err:e}");

    for path in PATHS {
        let stats = shifted_stats(&model, &golden, Grad::None, path);
        let valid = golden.get("valid");
        let err = max_abs_diff_masked(&stats.logprobs, golden.get("logprobs"), valid);
        assert!(err < 1e-4, "{name} {path:?}: log-probs differ from transformers by {err:e}");
        let err = max_abs_diff_masked(&stats.entropy, golden.get("entropy"), valid);
        assert!(err < 1e-4, "{name} {path:?}: entropies differ from transformers by {err:e}");
    }
}

fn check_gradients(name: &str) {
    for path in PATHS {
        check_gradients_with(name, path);
    }
}

fn check_gradients_with(fixture: &str, path: LogprobPath) {
    let golden = Golden::load(fixture);
    let model = Qwen2::load(common::fixtures_dir().join(fixture), &Device::Cpu, DType::F32).unwrap();
    let name = format!("{fixture} {path:?}");
    let stats = shifted_stats(&model, &golden, Grad::Track, path);
    let loss = (stats.logprobs * golden.get("weights")).unwrap().sum_all().unwrap();
    let expected_loss = golden.get("loss").to_vec1::<f32>().unwrap()[0];
    let got_loss = loss.to_scalar::<f32>().unwrap();
    assert!((got_loss - expected_loss).abs() < 1e-4, "{name}: loss {got_loss} vs {expected_loss}");

    let grads = loss.backward().unwrap();
    let mut expected: Vec<&str> = golden.tensors.keys().filter_map(|k| k.strip_prefix("grad.")).collect();
    let mut got: Vec<&str> = model.params().iter().map(|(n, _)| n.as_str()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected, "{name}: parameter names differ from transformers'");
    for (param, var) in model.params() {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name}: no gradient reached {param}"));
        let reference = golden.get(&format!("grad.{param}"));
        let ref_norm = reference.sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
        let diff_norm =
            (g - reference).unwrap().sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
        assert!(ref_norm > 0.0, "{name}: reference gradient of {param} is zero");
        assert!(
            diff_norm / ref_norm < 1e-3,
            "{name}: gradient of {param} off by {:e} (relative)",
            diff_norm / ref_norm
        );
    }
}

#[test]
fn tied_head_forward_matches_transformers() {
    check_forward("tiny_tied");
}

#[test]
fn untied_head_forward_matches_transformers() {
    check_forward("tiny_untied");
}

#[test]
fn tied_head_gradients_match_transformers() {
    check_gradients("tiny_tied");
}

#[test]
fn untied_head_gradients_match_transformers() {
    check_gradients("tiny_untied");
}

#[test]
fn sharded_bf16_checkpoint_loads_and_matches() {
    let golden = Golden::load("tiny_tied");
    let rounded = Golden::load("tiny_tied_bf16_sharded");
    let dir = common::fixtures_dir().join("tiny_tied_bf16_sharded");
    assert!(dir.join("model.safetensors.index.json").exists());
    let model = Qwen2::load(&dir, &Device::Cpu, DType::F32).unwrap();
    let (ids, mask, pos) = (golden.ids("input_ids"), golden.ids("attention_mask"), golden.ids("position_ids"));
    let logits = model.logits(&ids, &mask, &pos, Grad::None).unwrap();
    // Upcasting bf16 is exact, so an f32 forward matches transformers' f32 forward of the same
    // rounded weights tightly ...
    let err = max_abs_diff_masked(&logits, rounded.get("logits_f32_compute"), golden.get("attention_mask"));
    assert!(err < 1e-4, "bf16 checkpoint: logits differ from transformers by {err:e}");
    // ... and the original f32 model within bf16 rounding (8 mantissa bits: 0.4% per weight;
    // transformers' own rounded model is 0.85% of the logit range away).
    let scale = golden.get("logits").abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    let err = max_abs_diff_masked(&logits, golden.get("logits"), golden.get("attention_mask"));
    assert!(err < 0.02 * scale, "bf16 checkpoint: logits differ from the f32 model by {err} (scale {scale})");

    // Computing in bf16 stays within bf16 tolerance of the f32 model too.
    let model = Qwen2::load(&dir, &Device::Cpu, DType::BF16).unwrap();
    let logits = model.logits(&ids, &mask, &pos, Grad::None).unwrap();
    let err = max_abs_diff_masked(&logits, golden.get("logits"), golden.get("attention_mask"));
    assert!(err < 0.04 * scale, "bf16 compute: logits differ from the f32 model by {err} (scale {scale})");
    eprintln!("bf16 compute: max abs logit error {err} at logit scale {scale}");
}

/// The padded prompt/response layout used for training scores the same tokens as transformers.
#[test]
fn response_scores_match_transformers() {
    let golden = Golden::load("tiny_tied");
    let model = Qwen2::load(common::fixtures_dir().join("tiny_tied"), &Device::Cpu, DType::F32).unwrap();
    let ids = vec2(golden.get("input_ids"));
    let mask = vec2(golden.get("attention_mask"));
    let reference = vec2(golden.get("logprobs"));
    let mut sequences = Vec::new();
    let mut expected = Vec::new();
    for (row, (ids, mask)) in ids.iter().zip(&mask).enumerate() {
        let start = mask.iter().position(|&m| m > 0.0).unwrap();
        let tokens: Vec<u32> = ids.iter().zip(mask).filter(|(_, &m)| m > 0.0).map(|(&i, _)| i as u32).collect();
        let split = 1 + row; // prompts of different lengths
        sequences.push(Sequence { prompt: tokens[..split].to_vec(), response: tokens[split..].to_vec() });
        expected.push(reference[row][start + split - 1..start + tokens.len() - 1].to_vec());
    }
    for micro_batch in [1, 2, 3] {
        let scores = model.score(&sequences, micro_batch).unwrap();
        for (row, (got, want)) in scores.iter().zip(&expected).enumerate() {
            assert_eq!(got.logprobs.len(), want.len());
            let err = got.logprobs.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(err < 1e-4, "row {row}, micro-batch {micro_batch}: log-probs off by {err:e}");
        }
    }
}

/// The fused and naive log-prob paths agree through the model, tied and untied: log-probs,
/// entropies and the gradient of every parameter.
#[test]
fn fused_and_naive_paths_agree_through_the_model() {
    let sequences = vec![
        Sequence { prompt: vec![3, 17, 5], response: vec![9, 2, 44, 7] },
        Sequence { prompt: vec![1], response: vec![60, 61] },
    ];
    for fixture in ["tiny_tied", "tiny_untied"] {
        let model = Qwen2::load(common::fixtures_dir().join(fixture), &Device::Cpu, DType::F32).unwrap();
        let batch = SequenceBatch::new(&sequences, model.config().vocab_size, &Device::Cpu).unwrap();
        let run = |path| {
            let stats = model.response_stats_with(&batch, Grad::Track, path).unwrap();
            let grads = (&stats.logprobs * &batch.response_mask).unwrap().sum_all().unwrap().backward().unwrap();
            let grads: Vec<Tensor> = model.params().iter().map(|(_, v)| grads.get(v).unwrap().clone()).collect();
            (stats, grads)
        };
        let ((fused, fused_grads), (naive, naive_grads)) = (run(LogprobPath::Fused), run(LogprobPath::Naive));
        let close = |a: &Tensor, b: &Tensor, what: &str| {
            let scale = b.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            let err = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(err <= 1e-5 * (1.0 + scale), "{fixture}: {what} differ by {err:e} (scale {scale})");
        };
        close(&fused.logprobs, &naive.logprobs, "log-probs");
        close(&fused.entropy, &naive.entropy, "entropies");
        for ((name, _), (f, n)) in model.params().iter().zip(fused_grads.iter().zip(&naive_grads)) {
            close(f, n, &format!("gradients of {name}"));
        }
    }
}
