//! The Qwen2 model config, with the field names of Hugging Face's `config.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

fn default_rope_theta() -> f64 {
    10_000.0
}
fn default_rms_norm_eps() -> f64 {
    1e-6
}
fn default_hidden_act() -> String {
    "silu".to_string()
}
fn default_max_position_embeddings() -> usize {
    32_768
}

/// Architecture hyper-parameters of a Qwen2 / Qwen2.5 causal LM (`Qwen2ForCausalLM`).
///
/// Field names mirror `config.json`; fields that Hugging Face gives a default are optional here
/// with the same default. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Qwen2Config {
    /// Rows of the embedding table (151,936 for Qwen2.5, padded beyond the tokenizer's 151,665).
    pub vocab_size: usize,
    /// Model width d.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); defaults to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Longest sequence the rotary table covers.
    #[serde(default = "default_max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Rotary embedding base.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f64,
    /// Epsilon of every RMSNorm.
    #[serde(default = "default_rms_norm_eps")]
    pub rms_norm_eps: f64,
    /// Whether `lm_head` shares the embedding matrix (true for Qwen2.5 0.5B-3B).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// MLP activation; only `silu` is supported.
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    /// Sliding-window attention; Qwen2.5 checkpoints ship with it off, and it is not supported.
    #[serde(default)]
    pub use_sliding_window: bool,
    /// Rotary scaling (YaRN etc.); not supported, must be null or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rope_scaling: Option<serde_json::Value>,
    /// End-of-sequence id from the config, informative only (generation takes explicit stop ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eos_token_id: Option<serde_json::Value>,
    /// Every other field of `config.json` (architectures, model_type, token ids, ...), kept so a
    /// saved checkpoint carries them on.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Qwen2Config {
    /// Reads and validates a `config.json`. Errors name the file and the bad field.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
        Self::from_json_str(&text, path)
    }

    /// Parses and validates config JSON; `path` is only used in error messages.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let config: Qwen2Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let field = e.path().to_string();
            let message = match field.as_str() {
                "." => e.inner().to_string(),
                _ => format!("field `{field}`: {}", e.inner()),
            };
            Error::Config { path: path.to_path_buf(), message }
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks the invariants the model relies on; `path` is only used in error messages.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let fail = |message: String| Err(Error::Config { path: PathBuf::from(path), message });
        let positive = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_kv_heads()),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (field, value) in positive {
            if value == 0 {
                return fail(format!("field `{field}` must be positive"));
            }
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return fail(format!(
                "field `hidden_size` ({}) must be divisible by `num_attention_heads` ({})",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self.num_attention_heads.is_multiple_of(self.num_kv_heads()) {
            return fail(format!(
                "field `num_attention_heads` ({}) must be divisible by `num_key_value_heads` ({})",
                self.num_attention_heads,
                self.num_kv_heads()
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return fail(format!("head dimension {} must be even for rotary embeddings", self.head_dim()));
        }
        if !(self.rms_norm_eps > 0.0) {
            return fail("field `rms_norm_eps` must be positive".into());
        }
        if !(self.rope_theta > 0.0) {
            return fail("field `rope_theta` must be positive".into());
        }
        if self.hidden_act != "silu" {
            return fail(format!("field `hidden_act` is `{}`, only `silu` is supported", self.hidden_act));
        }
        if self.use_sliding_window {
            return fail("field `use_sliding_window` is true; sliding-window attention is not supported".into());
        }
        if self.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return fail("field `rope_scaling` is set; rotary scaling is not supported".into());
        }
        Ok(())
    }

    /// Number of key/value heads.
    pub fn num_kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Per-head dimension.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// The same config with only the first `layers` decoder layers (for tests and benchmarks of
    /// full-width models on small machines).
    pub fn with_layers(&self, layers: usize) -> Self {
        Qwen2Config { num_hidden_layers: layers, ..self.clone() }
    }
}
