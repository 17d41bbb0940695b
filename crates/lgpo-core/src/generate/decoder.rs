//! Incremental batched decoding over a pre-allocated KV cache, without sampling: prefill the
//! prompts, then feed one token per row and get the next-token logits.

use candle_core::{DType, Tensor};

use crate::model::{attention_bias, KvCache, Qwen2};
use crate::{bail_input, Result};

/// The decoding state of a batch of rows. Prompts are left-padded into one prefill; every later
/// step appends one column to the cache for all rows still held.
pub struct Decoder<'m> {
    model: &'m Qwen2,
    cache: KvCache,
    /// (B, filled columns) u32: 1 for tokens, 0 for left padding.
    key_mask: Tensor,
    /// Position of the next token of each row.
    next_positions: Vec<u32>,
}

impl<'m> Decoder<'m> {
    /// Runs the prompts through the model, reserving room for `max_new_tokens` more tokens per
    /// row, and returns the decoder and the next-token logits (B, V) f32. Prompts must be
    /// non-empty and in the vocabulary (checked by the caller or by the model's embedding).
    pub fn prefill(model: &'m Qwen2, prompts: &[Vec<u32>], max_new_tokens: usize) -> Result<(Self, Tensor)> {
        let device = model.device();
        let b = prompts.len();
        let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
        if b == 0 || prompts.iter().any(Vec::is_empty) {
            bail_input!("prefill needs at least one prompt and no empty prompt");
        }
        let mut ids = vec![0u32; b * width];
        let mut mask = vec![0u32; b * width];
        let mut positions = vec![0u32; b * width];
        for (row, prompt) in prompts.iter().enumerate() {
            let start = row * width + width - prompt.len();
            for (k, &id) in prompt.iter().enumerate() {
                ids[start + k] = id;
                mask[start + k] = 1;
                positions[start + k] = k as u32;
            }
        }
        let key_mask = Tensor::from_vec(mask, (b, width), device)?;
        let mut cache = KvCache::new(model.config(), b, width + max_new_tokens, model.dtype(), device)?;
        let hidden = model.frozen_network().hidden(
            &Tensor::from_vec(ids, (b, width), device)?,
            &Tensor::from_vec(positions, (b, width), device)?,
            &attention_bias(&key_mask, 0, width)?,
            Some(&mut cache),
        )?;
        let next_positions = prompts.iter().map(|p| p.len() as u32).collect();
        let decoder = Decoder { model, cache, key_mask, next_positions };
        let logits = decoder.logits(&hidden.narrow(1, width - 1, 1)?.squeeze(1)?)?;
        Ok((decoder, logits))
    }

    /// Rows currently held.
    pub fn rows(&self) -> usize {
        self.next_positions.len()
    }

    /// Feeds one token per held row and returns the next-token logits (B, V) f32.
    pub fn step(&mut self, tokens: &[u32]) -> Result<Tensor> {
        let hidden = self.step_hidden(tokens)?;
        self.logits(&hidden)
    }

    /// [`Decoder::step`] up to the final hidden states (B, d): the decoder layers without the LM
    /// head (see [`Decoder::logits`]).
    pub fn step_hidden(&mut self, tokens: &[u32]) -> Result<Tensor> {
        let n = self.rows();
        if tokens.len() != n {
            bail_input!("step got {} tokens for {n} rows", tokens.len());
        }
        let device = self.model.device();
        let positions = Tensor::new(self.next_positions.as_slice(), device)?.reshape((n, 1))?;
        self.next_positions.iter_mut().for_each(|p| *p += 1);
        self.key_mask = Tensor::cat(&[&self.key_mask, &Tensor::ones((n, 1), DType::U32, device)?], 1)?;
        let bias = attention_bias(&self.key_mask, self.cache.len(), 1)?;
        let ids = Tensor::new(tokens, device)?.reshape((n, 1))?;
        let hidden = self.model.frozen_network().hidden(&ids, &positions, &bias, Some(&mut self.cache))?;
        Ok(hidden.squeeze(1)?)
    }

    /// Keeps only `rows` (indices into the held rows, increasing): finished rows stop costing
    /// compute.
    pub fn keep_rows(&mut self, rows: &[u32]) -> Result<()> {
        if rows.windows(2).any(|w| w[0] >= w[1]) || rows.last().is_some_and(|&r| r as usize >= self.rows()) {
            bail_input!("keep_rows: {rows:?} must be increasing indices below {}", self.rows());
        }
        self.select_rows(rows)
    }

    /// Makes row i of the batch a copy of held row `rows[i]` (cache, mask and position), for any
    /// indices below [`Decoder::rows`], repeats included: one prefill of a prompt then serves
    /// several samples of it.
    pub fn select_rows(&mut self, rows: &[u32]) -> Result<()> {
        if rows.is_empty() || rows.iter().any(|&r| r as usize >= self.rows()) {
            bail_input!("select_rows: {} indices, each must be below {}", rows.len(), self.rows());
        }
        let index = Tensor::new(rows, self.model.device())?;
        self.cache.select_rows(&index)?;
        self.key_mask = self.key_mask.index_select(&index, 0)?;
        self.next_positions = rows.iter().map(|&r| self.next_positions[r as usize]).collect();
        Ok(())
    }

    /// Next-token logits (B, V) f32 of final hidden states (B, d): the LM head.
    pub fn logits(&self, last_hidden: &Tensor) -> Result<Tensor> {
        let head = self.model.frozen_network().lm_head();
        crate::ops::head_logits(last_hidden, head)
    }
}
