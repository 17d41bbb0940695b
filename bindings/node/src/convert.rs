//! Conversions between JS option objects and core types.

use candle_core::{DType, Device};
use napi::Result;
use napi_derive::napi;
use serde::de::DeserializeOwned;

use crate::errors::{core_error, invalid};
use lgpo_core::generate::SamplingParams;
use lgpo_core::model::Sequence;

/// A device name: `cpu`, `cuda` or `cuda:N`, the core's default when `None` (see
/// `lgpo_core::device::parse_device`).
pub fn device(name: Option<&str>) -> Result<Device> {
    core(lgpo_core::device::parse_device_or_default(name))
}

/// A seed or an index from JS (an integer below 2^53; default 0); a negative one is refused,
/// naming `what`.
pub fn non_negative(value: Option<i64>, what: &str) -> Result<u64> {
    let value = value.unwrap_or(0);
    u64::try_from(value).map_err(|_| invalid(format!("{what} must be a non-negative integer, got {value}")))
}

/// A dtype name: `f32`, `bf16` or `f16`; the default is f32 on CPU and bf16 on CUDA.
pub fn dtype(name: Option<&str>, device: &Device) -> Result<DType> {
    core(lgpo_core::device::parse_dtype(name, device))
}

/// A JSON config object deserialised into a core config; errors name the field.
pub fn from_json<T: DeserializeOwned>(value: serde_json::Value, what: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { String::new() } else { format!(" at `{path}`") };
        invalid(format!("{what}{at}: {}", e.inner()))
    })
}

/// Sampling options (all optional; defaults: temperature 1, no top-k, top-p 1, 256 new tokens,
/// no stop ids, seed 0, one sample per prompt, no vocabulary limit).
#[napi(object)]
pub struct SamplingOptions {
    /// Softmax temperature; 0 is greedy decoding.
    pub temperature: Option<f64>,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: Option<u32>,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches p.
    pub top_p: Option<f64>,
    /// New tokens per row at most.
    pub max_new_tokens: Option<u32>,
    /// Stop a row after any of these token ids (included in its output).
    pub stop_token_ids: Option<Vec<u32>>,
    /// Seed of the random streams (an integer below 2^53).
    pub seed: Option<i64>,
    /// Index of this call's first output row in a longer list generated in several calls: row r
    /// draws from stream `firstRow + r`, so a list split into chunks (or across ranks) gives the
    /// rows one call would. Default 0.
    pub first_row: Option<i64>,
    /// Samples per prompt: `prompts.length * n` rows, prompt-major (row `i * n + k` is sample k
    /// of prompt i); each prompt is prefilled once.
    pub n: Option<u32>,
    /// Ids at or above this are never sampled (e.g. the tokenizer's size, for checkpoints whose
    /// embedding table is padded); log-probs and entropies are those of the restricted
    /// distribution. Default: no limit.
    pub vocab_limit: Option<u32>,
}

impl SamplingOptions {
    pub fn to_core(&self) -> Result<SamplingParams> {
        let d = SamplingParams::default();
        let seed = non_negative(self.seed, "seed")?;
        let first_row = non_negative(self.first_row, "firstRow")?;
        Ok(SamplingParams {
            temperature: self.temperature.map_or(d.temperature, |t| t as f32),
            top_k: self.top_k.map_or(d.top_k, |k| k as usize),
            top_p: self.top_p.map_or(d.top_p, |p| p as f32),
            max_new_tokens: self.max_new_tokens.map_or(d.max_new_tokens, |n| n as usize),
            stop_token_ids: self.stop_token_ids.clone().unwrap_or_default(),
            seed,
            first_row,
            samples_per_prompt: self.n.map_or(d.samples_per_prompt, |n| n as usize),
            vocab_limit: self.vocab_limit.map(|l| l as usize),
        })
    }
}

/// A prompt and a response, as token ids.
#[napi(object)]
#[derive(Clone)]
pub struct SequenceInput {
    pub prompt_ids: Vec<u32>,
    pub response_ids: Vec<u32>,
}

impl From<&SequenceInput> for Sequence {
    fn from(s: &SequenceInput) -> Self {
        Sequence { prompt: s.prompt_ids.clone(), response: s.response_ids.clone() }
    }
}

/// f64 rows from JS as f32 rows for the core.
pub fn rows_f32(rows: &[Vec<f64>]) -> Vec<Vec<f32>> {
    rows.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect()
}

/// f32 values for JS.
pub fn values_f64(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&v| v as f64).collect()
}

pub fn core<T>(r: lgpo_core::Result<T>) -> Result<T> {
    r.map_err(core_error)
}
