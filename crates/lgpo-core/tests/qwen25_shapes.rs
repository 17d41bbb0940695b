//! The published Qwen2.5 configs parse, and models of their shapes (depth cut to 1-2 layers)
//! build with random weights, run, and pass gradients to every parameter.

mod common;

use candle_core::{DType, Device};
use lgpo_core::model::{Grad, Qwen2, Qwen2Config, Sequence, SequenceBatch};

fn config(name: &str) -> Option<Qwen2Config> {
    let path = common::data_file(&format!("qwen2.5/configs/{name}.config.json"))?;
    Some(Qwen2Config::from_file(path).expect("published config parses"))
}

fn small_batch() -> Vec<Sequence> {
    vec![
        Sequence { prompt: vec![151644, 872, 198, 17, 10, 18], response: vec![28, 20, 151645] },
        Sequence { prompt: vec![151644, 872], response: vec![16, 17, 18, 19, 20] },
    ]
}

#[test]
fn published_configs_parse_with_their_values() {
    let Some(small) = config("Qwen2.5-0.5B-Instruct") else { return };
    assert_eq!((small.hidden_size, small.num_attention_heads, small.num_kv_heads()), (896, 14, 2));
    assert_eq!((small.vocab_size, small.head_dim(), small.num_hidden_layers), (151_936, 64, 24));
    assert!(small.tie_word_embeddings);
    assert_eq!(small.rope_theta, 1e6);
    let Some(math) = config("Qwen2.5-Math-1.5B") else { return };
    assert_eq!((math.hidden_size, math.intermediate_size, math.max_position_embeddings), (1536, 8960, 4096));
    assert_eq!(math.rope_theta, 10_000.0);
    let Some(large) = config("Qwen2.5-3B-Instruct") else { return };
    assert_eq!((large.hidden_size, large.num_attention_heads, large.num_hidden_layers), (2048, 16, 36));
}

/// Forward + backward through a 2-layer Qwen2.5-0.5B-shaped model: every parameter, the tied
/// embedding included, gets a non-zero gradient (a fused op without backward would stop them).
#[test]
fn half_billion_shape_trains_end_to_end() {
    let Some(cfg) = config("Qwen2.5-0.5B-Instruct") else { return };
    let model = Qwen2::random(cfg.with_layers(2), 0, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(model.params().len(), 1 + 2 * 12 + 1, "embedding, 12 tensors per layer, final norm");
    let batch = SequenceBatch::new(&small_batch(), model.config().vocab_size, &Device::Cpu).unwrap();
    let stats = model.response_stats(&batch, Grad::Track).unwrap();
    let loss = (stats.logprobs * &batch.response_mask).unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    for (name, var) in model.params() {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("no gradient reached {name}"));
        let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(norm > 0.0 && norm.is_finite(), "gradient of {name} has squared norm {norm}");
    }
}

#[test]
fn math_and_3b_shapes_build_and_run() {
    for name in ["Qwen2.5-Math-1.5B", "Qwen2.5-3B-Instruct"] {
        let Some(cfg) = config(name) else { return };
        let model = Qwen2::random(cfg.with_layers(1), 1, &Device::Cpu, DType::F32).unwrap();
        let scores = model.score(&small_batch(), 2).unwrap();
        for (row, s) in scores.iter().zip(small_batch()) {
            assert_eq!(row.logprobs.len(), s.response.len());
            // Random init gives a nearly uniform next-token distribution over the vocabulary.
            let uniform = (cfg.vocab_size as f32).ln();
            assert!(
                row.logprobs.iter().all(|lp| lp.is_finite() && (lp + uniform).abs() < 3.0),
                "{name}: {:?}",
                row.logprobs
            );
            assert!(row.entropy.iter().all(|h| *h <= uniform + 1e-3 && uniform - h < 0.5), "{name}: {:?}", row.entropy);
        }
    }
}
