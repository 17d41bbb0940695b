//! In-place kernels of the AdamW update: one pass per moment and one for the parameter, instead
//! of a dozen full-size temporary tensors (7 s → under 1 s per step for the 165 M parameters of a
//! 2-layer Qwen2.5-0.5B shape on 2 cores). CPU here; CUDA in `crate::cuda::adamw` (`adamw.cu`).

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout};
use rayon::prelude::*;

const CHUNK: usize = 1 << 16;

fn slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op}: needs a contiguous f32 tensor"),
    }
}

/// Exponential moving average of the scaled gradient (or of its square) into a moment:
/// m ← β m + (1 − β) s·g  (or (s·g)²), with s gradient clipping's factor (CPU; 1 on CUDA).
pub(crate) struct MomentUpdate {
    pub beta: f32,
    pub square: bool,
    pub scale: f32,
}

impl InplaceOp2 for MomentUpdate {
    fn name(&self) -> &'static str {
        "lgpo-adamw-moment"
    }

    fn cpu_fwd(&self, m: &mut CpuStorage, ml: &Layout, g: &CpuStorage, gl: &Layout) -> candle_core::Result<()> {
        let m = slice_mut(m, ml, self.name())?;
        let g = slice(g, gl, self.name())?;
        if m.len() != g.len() {
            candle_core::bail!("{}: moment has {} values, gradient {}", self.name(), m.len(), g.len());
        }
        let (beta, rest, square, scale) = (self.beta, 1.0 - self.beta, self.square, self.scale);
        m.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).for_each(|(m, g)| {
            for (m, &g) in m.iter_mut().zip(g) {
                let g = scale * g;
                *m = beta * *m + rest * if square { g * g } else { g };
            }
        });
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        m: &mut candle_core::CudaStorage,
        ml: &Layout,
        g: &candle_core::CudaStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        if self.scale != 1.0 {
            candle_core::bail!("{}: the CUDA kernel takes unscaled gradients", self.name());
        }
        crate::cuda::adamw::moment((m, ml), (g, gl), self.beta, self.square)
    }
}

/// The decoupled-weight-decay Adam step on the f32 master weights:
/// θ ← θ (1 − lr·wd) − lr · (m / b1) / (sqrt(v / b2) + ε), with b1, b2 the bias corrections.
pub(crate) struct ParamUpdate {
    pub lr: f32,
    pub weight_decay: f32,
    pub bias1: f32,
    pub bias2: f32,
    pub eps: f32,
}

impl InplaceOp3 for ParamUpdate {
    fn name(&self) -> &'static str {
        "lgpo-adamw-param"
    }

    fn cpu_fwd(
        &self,
        p: &mut CpuStorage,
        pl: &Layout,
        m: &CpuStorage,
        ml: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<()> {
        let p = slice_mut(p, pl, self.name())?;
        let (m, v) = (slice(m, ml, self.name())?, slice(v, vl, self.name())?);
        if p.len() != m.len() || p.len() != v.len() {
            candle_core::bail!("{}: parameter and moments differ in size", self.name());
        }
        let decay = 1.0 - self.lr * self.weight_decay;
        let (inv_b1, inv_b2) = (1.0 / self.bias1, 1.0 / self.bias2);
        p.par_chunks_mut(CHUNK).zip(m.par_chunks(CHUNK).zip(v.par_chunks(CHUNK))).for_each(|(p, (m, v))| {
            for ((p, &m), &v) in p.iter_mut().zip(m).zip(v) {
                *p = *p * decay - self.lr * (m * inv_b1) / ((v * inv_b2).sqrt() + self.eps);
            }
        });
        Ok(())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        p: &mut candle_core::CudaStorage,
        pl: &Layout,
        m: &candle_core::CudaStorage,
        ml: &Layout,
        v: &candle_core::CudaStorage,
        vl: &Layout,
    ) -> candle_core::Result<()> {
        let step = crate::cuda::adamw::Step {
            lr: self.lr,
            weight_decay: self.weight_decay,
            inv_bias1: 1.0 / self.bias1,
            inv_bias2: 1.0 / self.bias2,
            eps: self.eps,
        };
        crate::cuda::adamw::param((p, pl), (m, ml), (v, vl), step)
    }
}
