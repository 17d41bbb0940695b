//! Batched sampling with a pre-allocated KV cache.
//!
//! Prompts of different lengths are left-padded into one prefill; each decode step then feeds
//! one token per unfinished row. Each distinct prompt is prefilled once and its cache row copied
//! for each of its samples. Rows that finish are dropped from the batch and the cache, so they
//! stop costing compute. Every row draws from its own random stream (seed, row index), so its
//! tokens do not depend on which other rows share the batch, nor on how a list of prompts is
//! split into calls (`first_row`); the rows of a step are drawn in parallel.

mod decoder;
mod distribution;
mod sampler;
mod timings;
mod truncation;

use std::cell::RefCell;
use std::collections::HashMap;

use candle_core::{CpuStorage, Storage, Tensor};
use rayon::prelude::*;

pub use decoder::Decoder;
pub use timings::GenerateTimings;

use crate::model::Qwen2;
use crate::rng::SplitMix64;
use crate::{bail_input, Error, Result};
use sampler::{Draw, Scratch};

/// How to sample. Defaults: temperature 1, no top-k, no top-p, 256 new tokens, no stop ids,
/// seed 0 from row 0, one sample per prompt, no vocabulary limit.
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
    /// Seed of the random streams: output row r draws from
    /// `SplitMix64::for_stream(seed, first_row + r)`.
    pub seed: u64,
    /// The index of this call's first output row in a longer list generated in several calls
    /// (chunks, or ranks of a data-parallel job): each row's stream depends on its index in the
    /// whole list only, so the list's rows do not depend on how it was split. 0 for one call.
    pub first_row: u64,
    /// Samples per prompt (a GRPO group): the output has `prompts.len() * samples_per_prompt`
    /// rows, prompt-major (row `i * n + k` is sample k of prompt i), each prompt prefilled once.
    pub samples_per_prompt: usize,
    /// Ids at or above this are never produced (greedy included), and log-probs and entropies
    /// are those of the distribution restricted to the ids below it. Set it to the tokenizer's
    /// size for checkpoints whose embedding table is padded past the tokenizer (Qwen2.5: 151,665
    /// of 151,936 rows). `None`: the whole vocabulary.
    pub vocab_limit: Option<usize>,
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
            first_row: 0,
            samples_per_prompt: 1,
            vocab_limit: None,
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
    /// Entropy (nats) of softmax(logits / T) over the allowed ids at each new token, before
    /// top-k/top-p (T = 1 when greedy).
    pub entropies: Vec<f32>,
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
    if params.samples_per_prompt == 0 {
        bail_input!("samples_per_prompt must be at least 1");
    }
    if let Some(limit) = params.vocab_limit {
        if limit == 0 || limit > cfg.vocab_size {
            bail_input!("vocab_limit must be in 1..={} (the vocabulary size), got {limit}", cfg.vocab_size);
        }
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

thread_local! {
    /// The sampler's buffers, one set per thread, reused across draws and calls.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Samples continuations of every prompt. See [`SamplingParams`] for the options.
pub fn generate(model: &Qwen2, prompts: &[Vec<u32>], params: &SamplingParams) -> Result<Vec<Generation>> {
    Ok(generate_timed(model, prompts, params)?.0)
}

/// [`generate`], also returning where the time went.
pub fn generate_timed(
    model: &Qwen2,
    prompts: &[Vec<u32>],
    params: &SamplingParams,
) -> Result<(Vec<Generation>, GenerateTimings)> {
    validate(model, prompts, params)?;
    let mut timings = GenerateTimings::default();
    let n = params.samples_per_prompt;
    let rows = prompts.len() * n;
    let (distinct, source) = distinct_prompts(prompts);
    let (mut decoder, mut logits) =
        timings.time(|t| &mut t.prefill, || Decoder::prefill(model, &distinct, params.max_new_tokens))?;
    // Row r = i·n + k is sample k of prompt i: a copy of prompt i's prefilled row.
    let row_source: Vec<u32> = (0..rows).map(|r| source[r / n]).collect();
    if row_source.iter().enumerate().any(|(r, &s)| s as usize != r) {
        logits = timings.time(
            |t| &mut t.replicate,
            || -> Result<Tensor> {
                decoder.select_rows(&row_source)?;
                Ok(logits.index_select(&Tensor::new(row_source.as_slice(), model.device())?, 0)?)
            },
        )?;
    }
    let vocab_limit = params.vocab_limit.unwrap_or(model.config().vocab_size);
    let mut outputs: Vec<Generation> = (0..rows)
        .map(|_| Generation {
            tokens: Vec::new(),
            logprobs: Vec::new(),
            entropies: Vec::new(),
            finish_reason: FinishReason::Length,
        })
        .collect();
    let mut active: Vec<Active> = (0..rows)
        .map(|row| Active { row, rng: SplitMix64::for_stream(params.seed, params.first_row + row as u64) })
        .collect();
    loop {
        let draws = timings.time(|t| &mut t.sampling, || draw_rows(&logits, &mut active, params, vocab_limit))?;
        let mut next_tokens = Vec::with_capacity(active.len());
        let mut keep = Vec::with_capacity(active.len());
        for (slot, (state, drawn)) in active.iter().zip(draws).enumerate() {
            let out = &mut outputs[state.row];
            let Some(drawn) = drawn else {
                return Err(Error::input(format!(
                    "the model produced non-finite logits (NaN or +inf) for prompts[{}] (sample {}) at new token {}",
                    state.row / n,
                    state.row % n,
                    out.tokens.len()
                )));
            };
            out.tokens.push(drawn.token);
            out.logprobs.push(drawn.logprob);
            out.entropies.push(drawn.entropy);
            if params.stop_token_ids.contains(&drawn.token) {
                out.finish_reason = FinishReason::Stop;
            } else if out.tokens.len() < params.max_new_tokens {
                keep.push(slot as u32);
                next_tokens.push(drawn.token);
            }
        }
        if keep.is_empty() {
            return Ok((outputs, timings));
        }
        if keep.len() < active.len() {
            timings.time(|t| &mut t.compaction, || decoder.keep_rows(&keep))?;
            let mut slot = 0u32;
            active.retain(|_| {
                let kept = keep.binary_search(&slot).is_ok();
                slot += 1;
                kept
            });
        }
        timings.steps += 1;
        let hidden = timings.time(|t| &mut t.layers, || decoder.step_hidden(&next_tokens))?;
        logits = timings.time(|t| &mut t.lm_head, || decoder.logits(&hidden))?;
    }
}

/// The distinct prompts in order of first appearance, and for each prompt its index among them.
fn distinct_prompts(prompts: &[Vec<u32>]) -> (Vec<Vec<u32>>, Vec<u32>) {
    let mut index: HashMap<&[u32], u32> = HashMap::new();
    let mut distinct = Vec::new();
    let source = prompts
        .iter()
        .map(|p| {
            *index.entry(p.as_slice()).or_insert_with(|| {
                distinct.push(p.clone());
                (distinct.len() - 1) as u32
            })
        })
        .collect();
    (distinct, source)
}

/// One draw per active row from `logits` (rows, V), in parallel; `None` for a row whose logits are
/// not a distribution.
fn draw_rows(
    logits: &Tensor,
    active: &mut [Active],
    params: &SamplingParams,
    vocab_limit: usize,
) -> Result<Vec<Option<Draw>>> {
    let vocab = logits.dim(1)?;
    with_host_values(logits, |values| {
        active
            .par_iter_mut()
            .zip(values.par_chunks(vocab))
            .map(|(state, row)| {
                SCRATCH.with(|scratch| {
                    sampler::draw(&row[..vocab_limit], params, &mut state.rng, &mut scratch.borrow_mut()).ok()
                })
            })
            .collect()
    })
}

/// Calls `f` on the values of an f32 tensor in row-major order: borrowed from a contiguous CPU
/// tensor, copied to the host otherwise.
fn with_host_values<T>(t: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<T> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (Storage::Cpu(CpuStorage::F32(data)), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
            return Ok(f(&data[start..end]));
        }
    }
    Ok(f(&t.flatten_all()?.to_vec1::<f32>()?))
}
