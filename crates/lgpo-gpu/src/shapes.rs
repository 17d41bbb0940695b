//! Model shapes of the benchmarks, built in so the binary needs no data files on a GPU machine:
//! the published Qwen2.5 architectures (random weights stand in for the checkpoints) and a tiny
//! shape for dry runs on the CPU. A test checks them against the published `config.json` files
//! of the shared reference data.

use std::path::Path;

use lgpo_core::model::Qwen2Config;

/// A named shape for `--model`.
pub fn by_name(name: &str) -> lgpo_core::Result<Qwen2Config> {
    let json = match name {
        "qwen2.5-0.5b" => qwen25(896, 4864, 24, 14, 2),
        "qwen2.5-1.5b" => qwen25(1536, 8960, 28, 12, 2),
        "qwen2.5-3b" => qwen25(2048, 11008, 36, 16, 2),
        "tiny" => serde_json::json!({
            "vocab_size": 512, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 1024,
            "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": true
        }),
        other => lgpo_core::bail_input!("model shape `{other}` is not one of {}", NAMES.join(", ")),
    };
    Qwen2Config::from_json_str(&json.to_string(), Path::new(name))
}

/// The names [`by_name`] knows.
pub const NAMES: [&str; 4] = ["qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "tiny"];

/// A Qwen2.5 instruct model's architecture: vocabulary 151,936, rope θ 1e6, RMSNorm ε 1e-6,
/// tied embeddings (0.5B to 3B).
fn qwen25(hidden: usize, intermediate: usize, layers: usize, heads: usize, kv_heads: usize) -> serde_json::Value {
    serde_json::json!({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_act": "silu",
        "vocab_size": 151936, "hidden_size": hidden, "intermediate_size": intermediate,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": true, "use_sliding_window": false,
        "bos_token_id": 151643, "eos_token_id": 151645
    })
}

/// Parameters that take part in matrix products per token: every linear layer and the LM head
/// (the embedding lookup is not a product).
pub fn matmul_params(cfg: &Qwen2Config) -> f64 {
    let (d, m, hd) = (cfg.hidden_size as f64, cfg.intermediate_size as f64, cfg.head_dim() as f64);
    let (heads, kv) = (cfg.num_attention_heads as f64, cfg.num_kv_heads() as f64);
    let attention = d * heads * hd * 2.0 + d * kv * hd * 2.0; // q, o; k, v
    let mlp = 3.0 * d * m;
    cfg.num_hidden_layers as f64 * (attention + mlp)
}

/// Model FLOPs of one training step (forward + backward) over `batch` sequences of `prompt` +
/// `response` tokens, the LM head applied at the response positions only, in the convention of
/// PaLM's MFU: 6 FLOPs per matmul parameter per token, 12 · layers · heads · head_dim · T per
/// token for attention (no causal discount).
pub fn train_step_flops(cfg: &Qwen2Config, batch: usize, prompt: usize, response: usize) -> f64 {
    let t = (prompt + response) as f64;
    let attention = 12.0 * cfg.num_hidden_layers as f64 * (cfg.num_attention_heads * cfg.head_dim()) as f64 * t;
    let head = 6.0 * (cfg.vocab_size * cfg.hidden_size) as f64 * response as f64;
    batch as f64 * ((6.0 * matmul_params(cfg) + attention) * t + head)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in shapes equal the published configs (when the shared data is present).
    #[test]
    fn built_in_shapes_match_the_published_configs() {
        let dir = std::env::var_os("LGPO_DATA_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
        for (name, file) in [("qwen2.5-0.5b", "Qwen2.5-0.5B-Instruct"), ("qwen2.5-3b", "Qwen2.5-3B-Instruct")] {
            let path = dir.join(format!("qwen2.5/configs/{file}.config.json"));
            let Ok(published) = Qwen2Config::from_file(&path) else {
                assert!(std::env::var("CI").as_deref() != Ok("true"), "{} is missing (CI=true)", path.display());
                let reason = format!("{} is absent", path.display());
                eprintln!("SKIPPED: {reason}");
                // Counted by `npm test` (scripts/test.mjs), as lgpo-core's tests/common does.
                if let Some(log) = std::env::var_os("LGPO_SKIP_LOG") {
                    use std::io::Write;
                    let file = std::fs::OpenOptions::new().create(true).append(true).open(log);
                    let _ = file.map(|mut f| writeln!(f, "lgpo-gpu shapes: {reason}"));
                }
                continue;
            };
            let ours = by_name(name).unwrap();
            let fields = |c: &Qwen2Config| {
                (
                    (c.vocab_size, c.hidden_size, c.intermediate_size, c.num_hidden_layers),
                    (c.num_attention_heads, c.num_kv_heads(), c.max_position_embeddings, c.tie_word_embeddings),
                    (c.rope_theta, c.rms_norm_eps),
                )
            };
            assert_eq!(fields(&ours), fields(&published), "{name}");
        }
    }

    #[test]
    fn flops_of_the_half_billion_shape() {
        let cfg = by_name("qwen2.5-0.5b").unwrap();
        // 24 layers × (q, o 896² · 2, k, v 896 · 128 · 2, MLP 3 · 896 · 4864) ≈ 357.9 M.
        assert!((matmul_params(&cfg) - 357_826_560.0).abs() < 1.0);
        let flops = train_step_flops(&cfg, 1, 1, 1);
        let expected = (6.0 * 357_826_560.0 + 12.0 * 24.0 * 896.0 * 2.0) * 2.0 + 6.0 * 151_936.0 * 896.0;
        assert!((flops - expected).abs() < 1.0);
        assert!(by_name("gpt2").unwrap_err().to_string().contains("qwen2.5-0.5b"));
    }
}
