//! In-place kernels of the AdamW update, instead of a dozen full-size temporary tensors (7 s →
//! under 1 s per step for the 165 M parameters of a 2-layer Qwen2.5-0.5B shape on 2 cores). On
//! the CPU one pass over memory ([`FusedStep`]: read θ, g, m, v, write θ, m, v); on CUDA one
//! pass per moment and one for the parameter (`crate::cuda::adamw`, `adamw.cu`).

use std::sync::Mutex;

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

/// The whole AdamW step of one parameter (CPU), applied in place to the parameter (or its f32
/// master) with the gradient as the source:
///   m ← β1 m + (1 − β1) s·g,   v ← β2 v + (1 − β2) (s·g)²,
///   θ ← θ (1 − lr·wd) − lr · (m / b1) / (sqrt(v / b2) + ε),
/// with s gradient clipping's factor. The moments are the optimizer's own vectors, lent to the
/// op (candle lends only the destination mutably). 10 → 7 full-size memory streams against a
/// pass per moment and one for the parameter.
pub(crate) struct FusedStep<'a> {
    pub moments: Mutex<(&'a mut [f32], &'a mut [f32])>,
    pub betas: (f32, f32),
    pub scale: f32,
    pub update: ParamUpdate,
}

impl InplaceOp2 for FusedStep<'_> {
    fn name(&self) -> &'static str {
        "lgpo-adamw-step"
    }

    fn cpu_fwd(&self, p: &mut CpuStorage, pl: &Layout, g: &CpuStorage, gl: &Layout) -> candle_core::Result<()> {
        let p = slice_mut(p, pl, self.name())?;
        let g = slice(g, gl, self.name())?;
        let mut moments = self.moments.lock().unwrap_or_else(|e| e.into_inner());
        let (m, v) = &mut *moments;
        if p.len() != g.len() || p.len() != m.len() || p.len() != v.len() {
            candle_core::bail!(
                "{}: parameter {}, gradient {}, moments {} and {} values",
                self.name(),
                p.len(),
                g.len(),
                m.len(),
                v.len()
            );
        }
        let ((b1, b2), scale, u) = (self.betas, self.scale, &self.update);
        let decay = 1.0 - u.lr * u.weight_decay;
        let (inv_b1, inv_b2) = (1.0 / u.bias1, 1.0 / u.bias2);
        let moments = m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK));
        p.par_chunks_mut(CHUNK).zip(g.par_chunks(CHUNK)).zip(moments).for_each(|((p, g), (m, v))| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = scale * g;
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * (g * g);
                *p = *p * decay - u.lr * (*m * inv_b1) / ((*v * inv_b2).sqrt() + u.eps);
            }
        });
        Ok(())
    }
}

/// Exponential moving average of the gradient (or of its square) into a moment (CUDA):
/// m ← β m + (1 − β) g  (or g²).
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) struct MomentUpdate {
    pub beta: f32,
    pub square: bool,
}

impl InplaceOp2 for MomentUpdate {
    fn name(&self) -> &'static str {
        "lgpo-adamw-moment"
    }

    fn cpu_fwd(&self, _: &mut CpuStorage, _: &Layout, _: &CpuStorage, _: &Layout) -> candle_core::Result<()> {
        candle_core::bail!("{}: the CPU update is one pass (FusedStep)", self.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        m: &mut candle_core::CudaStorage,
        ml: &Layout,
        g: &candle_core::CudaStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
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
        _: &mut CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<()> {
        candle_core::bail!("{}: the CPU update is one pass (FusedStep)", self.name())
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
