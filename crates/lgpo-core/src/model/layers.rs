//! The Qwen2 decoder, bottom-up: linear, RMSNorm, rotary angles, attention, MLP, decoder layer,
//! and the network. Every op used here has a backward pass, so a forward through `Var`-backed
//! weights yields gradients for every parameter.

use candle_core::{DType, Device, Tensor};

use super::config::Qwen2Config;
use super::kv_cache::KvCache;
use super::params::ParamSource;
use crate::ops;
use crate::Result;

/// Additive attention bias for a masked key: large and finite, so a query whose keys are all
/// masked (a padding position) gives finite garbage instead of NaN.
pub(crate) const MASKED: f64 = -1e9;

struct Linear {
    weight: Tensor,       // (out, in)
    bias: Option<Tensor>, // (out)
}

impl Linear {
    fn new(src: &mut dyn ParamSource, name: &str, (inp, out): (usize, usize), bias: bool) -> Result<Self> {
        let weight = src.tensor(&format!("{name}.weight"), &[out, inp])?;
        let bias = if bias { Some(src.tensor(&format!("{name}.bias"), &[out])?) } else { None };
        Ok(Linear { weight, bias })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, inp) = x.dims3()?;
        let y = x.reshape((b * t, inp))?.matmul(&self.weight.t()?)?; // (b·t, out)
        let y = match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        };
        Ok(y.reshape((b, t, ()))?)
    }
}

struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    fn new(src: &mut dyn ParamSource, name: &str, dim: usize, eps: f64) -> Result<Self> {
        Ok(RmsNorm { weight: src.tensor(&format!("{name}.weight"), &[dim])?, eps })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        ops::rms_norm(x, &self.weight, self.eps)
    }
}

/// cos/sin of the rotary angles for every position up to `max_position_embeddings`, computed in
/// f32 the way Hugging Face does (inv_freq = θ^(−2i/D), angle = position · inv_freq).
#[derive(Clone)]
pub(crate) struct RotaryTable {
    cos: Tensor, // (max_pos, D/2)
    sin: Tensor,
}

impl RotaryTable {
    pub(crate) fn new(cfg: &Qwen2Config, dtype: DType, device: &Device) -> Result<Self> {
        let half = cfg.head_dim() / 2;
        let inv_freq: Vec<f32> =
            (0..half).map(|i| (1.0 / cfg.rope_theta.powf((2 * i) as f64 / cfg.head_dim() as f64)) as f32).collect();
        let mut cos = Vec::with_capacity(cfg.max_position_embeddings * half);
        let mut sin = Vec::with_capacity(cfg.max_position_embeddings * half);
        for pos in 0..cfg.max_position_embeddings {
            for f in &inv_freq {
                let angle = pos as f32 * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let shape = (cfg.max_position_embeddings, half);
        Ok(RotaryTable {
            cos: Tensor::from_vec(cos, shape, device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, shape, device)?.to_dtype(dtype)?,
        })
    }

    /// Angles for `positions` (B, T) u32: cos and sin of shape (B, T, D/2).
    pub(crate) fn angles(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, t) = positions.dims2()?;
        let flat = positions.flatten_all()?;
        let cos = self.cos.index_select(&flat, 0)?.reshape((b, t, ()))?;
        let sin = self.sin.index_select(&flat, 0)?.reshape((b, t, ()))?;
        Ok((cos, sin))
    }
}

/// Grouped-query self-attention with biases on q, k, v (Qwen2).
struct Attention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    o_proj: Linear,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl Attention {
    fn new(src: &mut dyn ParamSource, name: &str, cfg: &Qwen2Config) -> Result<Self> {
        let (d, hd) = (cfg.hidden_size, cfg.head_dim());
        let (heads, kv_heads) = (cfg.num_attention_heads, cfg.num_kv_heads());
        Ok(Attention {
            q_proj: Linear::new(src, &format!("{name}.q_proj"), (d, heads * hd), true)?,
            k_proj: Linear::new(src, &format!("{name}.k_proj"), (d, kv_heads * hd), true)?,
            v_proj: Linear::new(src, &format!("{name}.v_proj"), (d, kv_heads * hd), true)?,
            o_proj: Linear::new(src, &format!("{name}.o_proj"), (heads * hd, d), false)?,
            heads,
            kv_heads,
            head_dim: hd,
        })
    }

    /// x: (B, T, d); cos, sin: (B, T, D/2); bias: (B, 1, 1, T, Tk) additive f32 mask, where Tk is
    /// T without a cache and the cache length after appending with one.
    fn forward(
        &self,
        x: &Tensor,
        rot: &(Tensor, Tensor),
        bias: &Tensor,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let (hd, kvh, rep) = (self.head_dim, self.kv_heads, self.heads / self.kv_heads);
        let split = |y: Tensor, h: usize| -> Result<Tensor> {
            Ok(y.reshape((b, t, h, hd))?.transpose(1, 2)?.contiguous()?) // (B, h, T, D)
        };
        let q = ops::rope(&split(self.q_proj.forward(x)?, self.heads)?, &rot.0, &rot.1)?;
        let k = ops::rope(&split(self.k_proj.forward(x)?, kvh)?, &rot.0, &rot.1)?;
        let v = split(self.v_proj.forward(x)?, kvh)?;
        let (k, v) = match cache {
            Some((cache, layer)) => cache.append(layer, &k, &v)?, // (B, KV, Tk, D)
            None => (k, v),
        };
        let tk = k.dim(2)?;
        // Query heads h·rep .. h·rep+rep−1 share key/value head h: fold them into the query
        // rows of that group instead of repeating keys and values.
        let q = q.reshape((b, kvh, rep * t, hd))?; // (B, KV, rep·T, D)
        let scale = 1.0 / (hd as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?; // (B, KV, rep·T, Tk)
        let scores = scores.to_dtype(DType::F32)?.reshape((b, kvh, rep, t, tk))?.broadcast_add(bias)?;
        let probs = ops::softmax_last_dim(&scores)?.to_dtype(x.dtype())?.reshape((b, kvh, rep * t, tk))?;
        let y = probs.matmul(&v)?; // (B, KV, rep·T, D)
        let y = y.reshape((b, self.heads, t, hd))?.transpose(1, 2)?.reshape((b, t, self.heads * hd))?;
        self.o_proj.forward(&y)
    }
}

/// SwiGLU MLP: down(silu(gate(x)) ⊙ up(x)).
struct Mlp {
    gate_proj: Linear,
    up_proj: Linear,
    down_proj: Linear,
}

impl Mlp {
    fn new(src: &mut dyn ParamSource, name: &str, cfg: &Qwen2Config) -> Result<Self> {
        let (d, m) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(Mlp {
            gate_proj: Linear::new(src, &format!("{name}.gate_proj"), (d, m), false)?,
            up_proj: Linear::new(src, &format!("{name}.up_proj"), (d, m), false)?,
            down_proj: Linear::new(src, &format!("{name}.down_proj"), (m, d), false)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let gated = (self.gate_proj.forward(x)?.silu()? * self.up_proj.forward(x)?)?;
        self.down_proj.forward(&gated)
    }
}

struct DecoderLayer {
    input_layernorm: RmsNorm,
    self_attn: Attention,
    post_attention_layernorm: RmsNorm,
    mlp: Mlp,
}

impl DecoderLayer {
    fn new(src: &mut dyn ParamSource, name: &str, cfg: &Qwen2Config) -> Result<Self> {
        let (d, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(DecoderLayer {
            input_layernorm: RmsNorm::new(src, &format!("{name}.input_layernorm"), d, eps)?,
            self_attn: Attention::new(src, &format!("{name}.self_attn"), cfg)?,
            post_attention_layernorm: RmsNorm::new(src, &format!("{name}.post_attention_layernorm"), d, eps)?,
            mlp: Mlp::new(src, &format!("{name}.mlp"), cfg)?,
        })
    }

    fn forward(
        &self,
        x: &Tensor,
        rot: &(Tensor, Tensor),
        bias: &Tensor,
        cache: Option<(&mut KvCache, usize)>,
    ) -> Result<Tensor> {
        let x = (x + self.self_attn.forward(&self.input_layernorm.forward(x)?, rot, bias, cache)?)?;
        Ok((&x + self.mlp.forward(&self.post_attention_layernorm.forward(&x)?)?)?)
    }
}

/// The Qwen2 network: embedding, decoder layers, final norm and LM head.
pub(crate) struct Network {
    embed_tokens: Tensor, // (V, d)
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    lm_head: Tensor, // (V, d); the embedding itself when tied
    rotary: RotaryTable,
}

impl Network {
    /// Builds the network, taking every parameter from `src` under its checkpoint name.
    pub(crate) fn new(src: &mut dyn ParamSource, cfg: &Qwen2Config, rotary: RotaryTable) -> Result<Self> {
        let (v, d) = (cfg.vocab_size, cfg.hidden_size);
        let embed_tokens = src.tensor("model.embed_tokens.weight", &[v, d])?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::new(src, &format!("model.layers.{i}"), cfg))
            .collect::<Result<Vec<_>>>()?;
        let norm = RmsNorm::new(src, "model.norm", d, cfg.rms_norm_eps)?;
        let lm_head =
            if cfg.tie_word_embeddings { embed_tokens.clone() } else { src.tensor("lm_head.weight", &[v, d])? };
        Ok(Network { embed_tokens, layers, norm, lm_head, rotary })
    }

    /// Final hidden states (B, T, d) after the last norm, for token ids (B, T) u32 at positions
    /// (B, T) u32 under the additive attention bias (B, 1, 1, T, Tk). With a cache, the new keys
    /// and values are appended to it and attention covers the cached columns too.
    pub(crate) fn hidden(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        bias: &Tensor,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        self.hidden_of_embeddings(self.embed(ids)?, positions, bias, cache)
    }

    /// [`Network::hidden`] from the embeddings x (B, T, d) of the tokens instead of their ids.
    pub(crate) fn hidden_of_embeddings(
        &self,
        mut x: Tensor,
        positions: &Tensor,
        bias: &Tensor,
        mut cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let t = x.dim(1)?;
        let rot = self.rotary.angles(positions)?;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x, &rot, bias, cache.as_deref_mut().map(|c| (c, i)))?;
        }
        if let Some(cache) = cache {
            cache.advance(t);
        }
        self.norm.forward(&x)
    }

    /// The embeddings (B, T, d) of token ids (B, T) u32: the input of the first layer.
    pub(crate) fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        Ok(self.embed_tokens.index_select(&ids.flatten_all()?, 0)?.reshape((b, t, ()))?)
    }

    /// Rotary angles (cos, sin), each (B, T, D/2), for positions (B, T) u32.
    pub(crate) fn angles(&self, positions: &Tensor) -> Result<(Tensor, Tensor)> {
        self.rotary.angles(positions)
    }

    /// Number of decoder layers.
    pub(crate) fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Decoder layer `i` on x (B, T, d), without a cache: the unit activation checkpointing
    /// recomputes.
    pub(crate) fn layer(&self, i: usize, x: &Tensor, rot: &(Tensor, Tensor), bias: &Tensor) -> Result<Tensor> {
        self.layers[i].forward(x, rot, bias, None)
    }

    /// The final norm applied to the last layer's output.
    pub(crate) fn final_norm(&self, x: &Tensor) -> Result<Tensor> {
        self.norm.forward(x)
    }

    /// The LM head's weight (V, d).
    pub(crate) fn lm_head(&self) -> &Tensor {
        &self.lm_head
    }
}

/// The additive attention bias (B, 1, 1, Tq, Tk) in f32 for queries at columns
/// `q_offset .. q_offset + Tq`: key j is visible to query column i when j ≤ i (causal) and
/// `key_mask[b, j]` is 1 (not padding). `key_mask` is (B, Tk), any dtype, 1 = token, 0 = pad.
pub(crate) fn attention_bias(key_mask: &Tensor, q_offset: usize, tq: usize) -> Result<Tensor> {
    let (b, tk) = key_mask.dims2()?;
    let causal: Vec<f32> =
        (0..tq).flat_map(|i| (0..tk).map(move |j| if j <= q_offset + i { 0.0 } else { MASKED as f32 })).collect();
    let causal = Tensor::from_vec(causal, (tq, tk), key_mask.device())?;
    let padding = ((key_mask.to_dtype(DType::F32)? - 1.0)? * -MASKED)?; // 0 for tokens, MASKED for pads
    let bias = causal.reshape((1, 1, 1, tq, tk))?.broadcast_add(&padding.reshape((b, 1, 1, 1, tk))?)?;
    Ok(bias)
}

/// Positions of a padded batch from its mask (B, T): the number of real tokens before each
/// column (so left padding does not shift positions), 0 on padding.
pub fn positions_from_mask(mask: &Tensor) -> Result<Tensor> {
    let rows: Vec<Vec<f32>> = mask.to_dtype(DType::F32)?.to_vec2()?;
    let (b, t) = (rows.len(), rows.first().map_or(0, |r| r.len()));
    let mut out = Vec::with_capacity(b * t);
    for row in rows {
        let mut seen = 0u32;
        for m in row {
            out.push(if m > 0.0 { seen } else { 0 });
            if m > 0.0 {
                seen += 1;
            }
        }
    }
    Ok(Tensor::from_vec(out, (b, t), mask.device())?)
}
