//! The Qwen2 / Qwen2.5 causal LM: config, checkpoint loading, the training forward (padded
//! batches, per-row positions, causal + padding mask), log-probs without gradient, and the
//! KV-cache path used by generation.
//!
//! Written on candle ops that have a backward pass (see [`crate::ops`]); candle-transformers'
//! qwen2 is not used because its fused ops stop gradients and it has no per-row positions.

mod backprop;
mod batch;
mod config;
mod kv_cache;
mod layers;
mod logprobs;
mod params;
mod weights;

use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

pub use crate::ops::TokenStats;
pub use backprop::ParamGrads;
pub use batch::{Sequence, SequenceBatch};
pub use config::Qwen2Config;
pub use kv_cache::KvCache;
pub use layers::positions_from_mask;
pub use logprobs::LogprobPath;
pub use params::{CheckpointSource, ParamSource, RandomInit};
pub use weights::CheckpointReader;

pub(crate) use layers::attention_bias;
use layers::{Network, RotaryTable};
use params::{DetachedParams, Trainable};

use crate::ops::{fused_token_stats_with_sink, GradSink};
use crate::rng::SplitMix64;
use crate::{bail_input, Result};

/// Whether a forward records the backprop graph to the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grad {
    /// Record it: gradients reach every parameter.
    Track,
    /// Do not: intermediates are freed layer by layer (old-policy log-probs, generation).
    None,
}

/// Log-probs and entropies of one sequence's response tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseScores {
    /// log π(response[j] | prompt, response[..j]) for every response token.
    pub logprobs: Vec<f32>,
    /// Entropy of the next-token distribution at each response token.
    pub entropy: Vec<f32>,
}

impl ResponseScores {
    /// The mean log-prob of the response (0 for an empty one): the statistic LGPO's gate
    /// compares with τ, summed in f64.
    pub fn mean_logprob(&self) -> f64 {
        self.logprobs.iter().map(|&v| v as f64).sum::<f64>() / self.logprobs.len().max(1) as f64
    }
}

/// A Qwen2 causal LM whose parameters are trainable [`Var`]s.
pub struct Qwen2 {
    config: Qwen2Config,
    /// The network over the parameters themselves.
    tracked: Network,
    /// The same network over detached views of the same storage.
    frozen: Network,
    params: Vec<(String, Var)>,
    dtype: DType,
    device: Device,
}

impl Qwen2 {
    /// Loads a Hugging Face checkpoint directory (`config.json` plus `model.safetensors` or a
    /// sharded `model.safetensors.index.json`), converting weights to `dtype` on `device`.
    pub fn load(dir: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Self> {
        let dir = dir.as_ref();
        let config = Qwen2Config::from_file(dir.join("config.json"))?;
        let reader = CheckpointReader::open(dir)?;
        let mut source = CheckpointSource { reader: &reader, dtype, device: device.clone() };
        Self::from_source(config, &mut source, device, dtype)
    }

    /// A model with Hugging Face's random initialisation from `seed`.
    pub fn random(config: Qwen2Config, seed: u64, device: &Device, dtype: DType) -> Result<Self> {
        let mut source = RandomInit { rng: SplitMix64::new(seed), std: 0.02, dtype, device: device.clone() };
        Self::from_source(config, &mut source, device, dtype)
    }

    /// A model whose parameters come from `source` (tensors already in `dtype` on `device`).
    pub fn from_source(
        config: Qwen2Config,
        source: &mut dyn ParamSource,
        device: &Device,
        dtype: DType,
    ) -> Result<Self> {
        config.validate(Path::new("<config>"))?;
        let rotary = RotaryTable::new(&config, dtype, device)?;
        let mut trainable = Trainable { source, params: Vec::new() };
        let tracked = Network::new(&mut trainable, &config, rotary.clone())?;
        let params = trainable.params;
        let frozen = Network::new(&mut DetachedParams { params: &params }, &config, rotary)?;
        Ok(Qwen2 { config, tracked, frozen, params, dtype, device: device.clone() })
    }

    /// The architecture.
    pub fn config(&self) -> &Qwen2Config {
        &self.config
    }

    /// Every parameter under its checkpoint name, in checkpoint order. A tied LM head appears
    /// once, as `model.embed_tokens.weight`. Update them in place (`Var::set`): the no-grad
    /// paths read the same storage.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// Compute dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Device of the parameters.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn network(&self, grad: Grad) -> &Network {
        match grad {
            Grad::Track => &self.tracked,
            Grad::None => &self.frozen,
        }
    }

    pub(crate) fn frozen_network(&self) -> &Network {
        &self.frozen
    }

    /// Final hidden states (B, T, d) for an arbitrarily padded batch: `input_ids` (B, T) u32,
    /// `attention_mask` (B, T) with 1 for tokens and 0 for padding, `position_ids` (B, T) u32.
    pub fn forward_hidden(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        position_ids: &Tensor,
        grad: Grad,
    ) -> Result<Tensor> {
        self.check_inputs(input_ids, attention_mask, position_ids)?;
        let t = input_ids.dim(1)?;
        let bias = attention_bias(attention_mask, 0, t)?;
        self.network(grad).hidden(input_ids, position_ids, &bias, None)
    }

    /// Logits (B, T, V) in f32 for the same inputs as [`Qwen2::forward_hidden`]. Materialises the
    /// full vocabulary for every position: for tests and small batches.
    pub fn logits(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        position_ids: &Tensor,
        grad: Grad,
    ) -> Result<Tensor> {
        let hidden = self.forward_hidden(input_ids, attention_mask, position_ids, grad)?;
        let (b, t, d) = hidden.dims3()?;
        let head = self.network(grad).lm_head();
        let logits = hidden.reshape((b * t, d))?.matmul(&head.t()?)?;
        Ok(logits.to_dtype(DType::F32)?.reshape((b, t, ()))?)
    }

    /// Log-probs and entropies (B, R) of the response tokens of `batch`, of softmax(logits /
    /// `batch.temperature`); padded response positions hold finite values to be masked with
    /// `batch.response_mask`. With [`Grad::Track`] the log-probs are differentiable in every
    /// parameter. Uses the fused log-prob path ([`LogprobPath::Fused`]), whose entropy has no
    /// gradient.
    pub fn response_stats(&self, batch: &SequenceBatch, grad: Grad) -> Result<TokenStats> {
        self.response_stats_with(batch, grad, LogprobPath::Fused)
    }

    /// [`Qwen2::response_stats`] through the given log-prob `path`.
    pub fn response_stats_with(&self, batch: &SequenceBatch, grad: Grad, path: LogprobPath) -> Result<TokenStats> {
        let hidden = self.forward_hidden(&batch.input_ids, &batch.attention_mask, &batch.position_ids, grad)?;
        self.response_stats_of_hidden(&hidden, batch, self.network(grad).lm_head(), path, None)
    }

    /// The response statistics of `batch` from its final hidden states (B, T, d) and `head`;
    /// with `head_grad` (a sink, and whether the forward may keep its logits), the fused path's
    /// backward puts the head's gradient there ([`fused_token_stats_with_sink`]; the naive path
    /// leaves it in candle's store).
    fn response_stats_of_hidden(
        &self,
        hidden: &Tensor,
        batch: &SequenceBatch,
        head: &Tensor,
        path: LogprobPath,
        head_grad: Option<(&GradSink, bool)>,
    ) -> Result<TokenStats> {
        let (b, r) = (batch.len(), batch.response_width);
        let d = self.config.hidden_size;
        // Response token j (column P + j) is predicted at column P + j − 1.
        let scored = hidden.narrow(1, batch.prompt_width - 1, r)?.reshape((b * r, d))?;
        // logits / T = (h / T) · Wᵀ: scaling the hidden states keeps the fused head unchanged,
        // and autograd carries the 1/T into the layers' gradient.
        let scored = if batch.temperature == 1.0 { scored } else { scored.affine(1.0 / batch.temperature, 0.0)? };
        let targets = batch.response_ids()?.flatten_all()?;
        let stats = match (path, head_grad) {
            (LogprobPath::Fused, Some((sink, keep_logits))) => {
                fused_token_stats_with_sink(&scored, head, &targets, sink, keep_logits)?
            }
            _ => path.token_stats(&scored, head, &targets)?,
        };
        Ok(TokenStats { logprobs: stats.logprobs.reshape((b, r))?, entropy: stats.entropy.reshape((b, r))? })
    }

    /// Log-probs and entropies of every response token without gradient (the "old policy" pass
    /// of ratio-based objectives), `micro_batch_size` sequences per forward to bound memory.
    pub fn score(&self, sequences: &[Sequence], micro_batch_size: usize) -> Result<Vec<ResponseScores>> {
        self.score_at(sequences, micro_batch_size, 1.0)
    }

    /// [`Qwen2::score`] of the distribution softmax(logits / `temperature`).
    pub fn score_at(
        &self,
        sequences: &[Sequence],
        micro_batch_size: usize,
        temperature: f64,
    ) -> Result<Vec<ResponseScores>> {
        if micro_batch_size == 0 {
            bail_input!("micro_batch_size must be at least 1");
        }
        let mut scores = Vec::with_capacity(sequences.len());
        for chunk in sequences.chunks(micro_batch_size) {
            let batch =
                SequenceBatch::new(chunk, self.config.vocab_size, &self.device)?.with_temperature(temperature)?;
            let stats = self.response_stats(&batch, Grad::None)?;
            let logprobs: Vec<Vec<f32>> = stats.logprobs.to_vec2()?;
            let entropy: Vec<Vec<f32>> = stats.entropy.to_vec2()?;
            for ((mut lp, mut h), &len) in logprobs.into_iter().zip(entropy).zip(&batch.response_lengths) {
                lp.truncate(len);
                h.truncate(len);
                scores.push(ResponseScores { logprobs: lp, entropy: h });
            }
        }
        Ok(scores)
    }

    fn check_inputs(&self, ids: &Tensor, mask: &Tensor, positions: &Tensor) -> Result<()> {
        let (b, t) = match ids.dims2() {
            Ok(d) => d,
            Err(_) => bail_input!("input_ids must be (batch, time), got {:?}", ids.shape()),
        };
        if b == 0 || t == 0 {
            bail_input!("input_ids {:?} is empty", ids.shape());
        }
        for (name, tensor) in [("attention_mask", mask), ("position_ids", positions)] {
            if tensor.dims() != [b, t] {
                bail_input!("{name} has shape {:?}, input_ids has {:?}", tensor.shape(), ids.shape());
            }
        }
        for (name, tensor, limit) in [
            ("input_ids", ids, self.config.vocab_size),
            ("position_ids", positions, self.config.max_position_embeddings),
        ] {
            if tensor.dtype() != DType::U32 {
                bail_input!("{name} must be u32, got {:?}", tensor.dtype());
            }
            let max = tensor.flatten_all()?.max(0)?.to_scalar::<u32>()? as usize;
            if max >= limit {
                bail_input!("{name} holds {max}, which is not below {limit}");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_config() -> Qwen2Config {
        let json = r#"{"vocab_size": 32, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 64}"#;
        Qwen2Config::from_json_str(json, Path::new("test")).unwrap()
    }

    /// The no-grad path reads the parameters' storage, so in-place updates (what an optimizer
    /// does) are seen by both paths.
    #[test]
    fn no_grad_path_sees_in_place_updates() -> Result<()> {
        let model = Qwen2::random(tiny_config(), 3, &Device::Cpu, DType::F32)?;
        let seqs = vec![Sequence { prompt: vec![1, 2, 3], response: vec![4, 5] }];
        let before = model.score(&seqs, 1)?;
        for (_, var) in model.params() {
            var.set(&(var.as_tensor() * 3.0)?)?;
        }
        let after = model.score(&seqs, 1)?;
        let batch = SequenceBatch::new(&seqs, 32, &Device::Cpu)?;
        let tracked: Vec<Vec<f32>> = model.response_stats(&batch, Grad::Track)?.logprobs.to_vec2()?;
        assert_ne!(before[0].logprobs, after[0].logprobs);
        assert_eq!(after[0].logprobs, tracked[0]);
        Ok(())
    }
}
