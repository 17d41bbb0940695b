//! A pre-allocated key/value cache for batched decoding.

use candle_core::{DType, Device, Tensor};

use super::config::Qwen2Config;
use crate::{bail_input, Result};

/// Keys and values of every layer, (B, KV, capacity, D) each, allocated once. Columns
/// `0..len` are filled; a forward appends its new columns at `len`.
pub struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    capacity: usize,
    len: usize,
}

impl KvCache {
    /// An empty cache for `batch` rows of up to `capacity` tokens.
    pub fn new(cfg: &Qwen2Config, batch: usize, capacity: usize, dtype: DType, device: &Device) -> Result<Self> {
        let shape = (batch, cfg.num_kv_heads(), capacity, cfg.head_dim());
        let layers = (0..cfg.num_hidden_layers)
            .map(|_| Ok((Tensor::zeros(shape, dtype, device)?, Tensor::zeros(shape, dtype, device)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers, capacity, len: 0 })
    }

    /// Filled columns.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no column is filled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes `k`, `v` (B, KV, T, D) of `layer` at column `len` and returns the filled keys and
    /// values including them, (B, KV, len + T, D).
    pub(crate) fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let t = k.dim(2)?;
        if self.len + t > self.capacity {
            bail_input!("kv cache: {} + {t} tokens exceed its capacity of {}", self.len, self.capacity);
        }
        let (ck, cv) = &self.layers[layer];
        ck.slice_set(&k.contiguous()?, 2, self.len)?;
        cv.slice_set(&v.contiguous()?, 2, self.len)?;
        let filled = self.len + t;
        Ok((ck.narrow(2, 0, filled)?.contiguous()?, cv.narrow(2, 0, filled)?.contiguous()?))
    }

    /// Marks the columns written by the last forward as filled.
    pub(crate) fn advance(&mut self, t: usize) {
        self.len += t;
    }

    /// Makes row i a copy of current row `rows[i]` (u32 indices, repeats allowed): drops finished
    /// sequences, or replicates a prefilled prompt for several samples.
    pub fn select_rows(&mut self, rows: &Tensor) -> Result<()> {
        for (k, v) in self.layers.iter_mut() {
            *k = k.index_select(rows, 0)?;
            *v = v.index_select(rows, 0)?;
        }
        Ok(())
    }
}
