//! Batched sampling with a pre-allocated KV cache.
//!
//! Prompts of different lengths are left-padded into one prefill; each decode step then feeds
//! one token per unfinished row. Rows that finish are dropped from the batch and the cache, so
//! they stop costing compute. Every row draws from its own random stream (seed, row index), so
//! its tokens do not depend on which other rows share the batch.

mod decoder;
mod sampler;

pub use decoder::Decoder;

use crate::model::Qwen2;
use crate::rng::SplitMix64;
use crate::{bail_input, Error, Result};

/// How to sample. Defaults: temperature 1, no top-k, no top-p, 256 new tokens, no stop ids,
/// seed 0.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 is greedy decoding.
    pub temperature: f32,
    /// Keep only the k most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all.
    pub top_p: f32,
    /// Stop a row after this many new tokens.
    pub max_new_tokens: usize,
    /// Stop a row after any of these tokens (included in the output).
    pub stop_token_ids: Vec<u32>,
    /// Seed of the random streams.
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            max_new_tokens: 256,
            stop_token_ids: Vec::new(),
            seed: 0,
        }
    }
}

/// Why a row stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// It produced one of the stop tokens.
    Stop,
    /// It reached `max_new_tokens`.
    Length,
}

/// The output of one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// New tokens, the stop token included when there was one.
    pub tokens: Vec<u32>,
    /// Sampling log-prob of each new token (see [`SamplingParams`] and the sampler's docs).
    pub logprobs: Vec<f32>,
    /// Why the row stopped.
    pub finish_reason: FinishReason,
}

fn validate(model: &Qwen2, prompts: &[Vec<u32>], params: &SamplingParams) -> Result<()> {
    let cfg = model.config();
    if prompts.is_empty() {
        bail_input!("prompts: the batch is empty");
    }
    if !(params.temperature >= 0.0 && params.temperature.is_finite()) {
        bail_input!("temperature must be a finite number >= 0, got {}", params.temperature);
    }
    if !(params.top_p > 0.0 && params.top_p <= 1.0) {
        bail_input!("top_p must be in (0, 1], got {}", params.top_p);
    }
    if params.max_new_tokens == 0 {
        bail_input!("max_new_tokens must be at least 1");
    }
    if let Some(id) = params.stop_token_ids.iter().find(|&&id| id as usize >= cfg.vocab_size) {
        bail_input!("stop_token_ids holds {id}, not below the vocabulary size {}", cfg.vocab_size);
    }
    for (i, prompt) in prompts.iter().enumerate() {
        if prompt.is_empty() {
            bail_input!("prompts[{i}] is empty");
        }
        if let Some((j, id)) = prompt.iter().enumerate().find(|(_, &id)| id as usize >= cfg.vocab_size) {
            bail_input!("prompts[{i}][{j}] = {id} is not below the vocabulary size {}", cfg.vocab_size);
        }
        if prompt.len() + params.max_new_tokens > cfg.max_position_embeddings {
            bail_input!(
                "prompts[{i}] has {} tokens; with max_new_tokens {} it exceeds max_position_embeddings {}",
                prompt.len(),
                params.max_new_tokens,
                cfg.max_position_embeddings
            );
        }
    }
    Ok(())
}

/// A row still being generated.
struct Active {
    row: usize,
    rng: SplitMix64,
}

/// Samples a continuation of every prompt. See [`SamplingParams`] for the options.
pub fn generate(model: &Qwen2, prompts: &[Vec<u32>], params: &SamplingParams) -> Result<Vec<Generation>> {
    validate(model, prompts, params)?;
    let (mut decoder, mut logits) = Decoder::prefill(model, prompts, params.max_new_tokens)?;
    let mut outputs: Vec<Generation> = (0..prompts.len())
        .map(|_| Generation { tokens: Vec::new(), logprobs: Vec::new(), finish_reason: FinishReason::Length })
        .collect();
    let mut active: Vec<Active> =
        (0..prompts.len()).map(|row| Active { row, rng: SplitMix64::for_stream(params.seed, row as u64) }).collect();
    loop {
        let rows: Vec<Vec<f32>> = logits.to_vec2()?;
        let mut next_tokens = Vec::with_capacity(active.len());
        let mut keep = Vec::with_capacity(active.len());
        for (slot, (state, row_logits)) in active.iter_mut().zip(&rows).enumerate() {
            let out = &mut outputs[state.row];
            if row_logits.iter().any(|v| !v.is_finite()) {
                return Err(Error::input(format!(
                    "the model produced non-finite logits for prompts[{}] at new token {}",
                    state.row,
                    out.tokens.len()
                )));
            }
            let drawn = sampler::draw(row_logits, params, &mut state.rng);
            out.tokens.push(drawn.token);
            out.logprobs.push(drawn.logprob);
            if params.stop_token_ids.contains(&drawn.token) {
                out.finish_reason = FinishReason::Stop;
            } else if out.tokens.len() < params.max_new_tokens {
                keep.push(slot as u32);
                next_tokens.push(drawn.token);
            }
        }
        if keep.is_empty() {
            return Ok(outputs);
        }
        if keep.len() < active.len() {
            decoder.keep_rows(&keep)?;
            let mut slot = 0u32;
            active.retain(|_| {
                let kept = keep.binary_search(&slot).is_ok();
                slot += 1;
                kept
            });
        }
        logits = decoder.step(&next_tokens)?;
    }
}
