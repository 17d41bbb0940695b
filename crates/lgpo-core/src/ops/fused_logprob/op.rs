//! The fused log-prob as candle custom ops: [`FusedLogprob`] (forward with its backward) and
//! [`FusedLogprobGrad`] (the backward as one op over the rows with a gradient, the CUDA route).

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor, WithDType};

use super::kernel::{backward, backward_rows, forward, Element, KeptLogits, Rows};
use super::Chunks;
use crate::ops::cpu::{contiguous_slice, dispatch_float};
use crate::ops::grad_sink::GradSink;

/// Output (N, 3): log p(target), entropy, log-sum-exp (kept for the backward). With a
/// `head_grad` sink the backward adds dL/dW there (in the accumulation type) instead of
/// returning it. With `keep_logits` the CPU forward stores the logits in `kept` (see
/// [`KeptLogits`]) and the backward takes them from there.
pub(super) struct FusedLogprob {
    chunks: Chunks,
    head_grad: Option<GradSink>,
    keep_logits: bool,
    kept: Mutex<Option<CpuStorage>>,
}

impl FusedLogprob {
    pub(super) fn new(chunks: Chunks, head_grad: Option<GradSink>, keep_logits: bool) -> Self {
        FusedLogprob { chunks, head_grad, keep_logits, kept: Mutex::new(None) }
    }
}

impl CustomOp3 for FusedLogprob {
    fn name(&self) -> &'static str {
        "lgpo-fused-logprob"
    }

    fn cpu_fwd(
        &self,
        hs: &CpuStorage,
        hl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, d) = hl.shape().dims2()?;
        let targets = contiguous_slice::<u32>(ts, tl, self.name())?;
        dispatch_float!(hs, self.name(), |T| {
            let h = contiguous_slice::<T>(hs, hl, self.name())?;
            let w = contiguous_slice::<T>(ws, wl, self.name())?;
            let (out, kept) = forward::<T, _>(h, w, targets, d, self.chunks, self.keep_logits);
            *self.kept.lock().unwrap_or_else(|e| e.into_inner()) = kept.map(<T as Element>::Acc::to_cpu_storage_owned);
            Ok((<T as Element>::Acc::to_cpu_storage_owned(out), Shape::from((n, 3))))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        hs: &candle_core::CudaStorage,
        hl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
        ts: &candle_core::CudaStorage,
        tl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let n = hl.shape().dims2()?.0;
        let inputs = crate::cuda::fused_logprob::Inputs { hidden: (hs, hl), head: (ws, wl), targets: (ts, tl) };
        let out = crate::cuda::fused_logprob::forward(&inputs, self.chunks.into())?;
        Ok((out, Shape::from((n, 3))))
    }

    /// With p_ij = softmax(l_i)_j, l = h Wᵀ, and g_i = dL/dlogp_i (only the log-prob column
    /// carries gradient; the entropy is detached and the lse is internal):
    ///   dL/dl_ij = g_i (1[j = t_i] − p_ij)
    ///   dL/dh = dL/dl · W,   dL/dW = (dL/dl)ᵀ · h,
    /// with the logits kept by the forward or recomputed tile by tile, and p from the saved lse
    /// (column 2).
    fn bwd(
        &self,
        hidden: &Tensor,
        head: &Tensor,
        targets: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        if !hidden.device().is_cpu() {
            let (dh, dw) = backward_by_op(hidden, head, targets, res, grad, self.chunks)?;
            return self.gradients(dh.to_dtype(hidden.dtype())?, dw, head);
        }
        let column = |t: &Tensor, c: usize| t.narrow(1, c, 1)?.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>();
        let (lse, g) = (column(res, 2)?, column(grad, 0)?);
        let (n, d) = hidden.dims2()?;
        let v = head.dim(0)?;
        // Taken, not borrowed: the logits are freed with this backward (a second one recomputes).
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (dh, dw) = {
            let ((hs, hl), (ws, wl), (ts, tl)) =
                (hidden.storage_and_layout(), head.storage_and_layout(), targets.storage_and_layout());
            let (Storage::Cpu(hs), Storage::Cpu(ws), Storage::Cpu(ts)) = (&*hs, &*ws, &*ts) else {
                candle_core::bail!("{}: the CPU backward got non-CPU tensors", self.name())
            };
            let targets = contiguous_slice::<u32>(ts, tl, self.name())?;
            dispatch_float!(hs, self.name(), |T| {
                let h = contiguous_slice::<T>(hs, hl, self.name())?;
                let w = contiguous_slice::<T>(ws, wl, self.name())?;
                let acc = |x: &[f64]| x.iter().map(|&v| <T as Element>::Acc::from_f64(v)).collect::<Vec<_>>();
                let (lse, g) = (acc(&lse), acc(&g));
                let kept = match &kept {
                    Some(storage) => Some(KeptLogits {
                        data: <T as Element>::Acc::cpu_storage_as_slice(storage)?,
                        rows: n,
                        vocab: v,
                        tokens: self.chunks.tokens,
                    }),
                    None => None,
                };
                let rows = Rows { h, targets, lse: &lse, g: &g, kept, ids: None };
                let (dh, dw) = backward::<T, _>(rows, w, d, self.chunks);
                (Tensor::from_vec(dh, (n, d), &Device::Cpu)?, Tensor::from_vec(dw, (v, d), &Device::Cpu)?)
            })
        };
        self.gradients(dh.to_dtype(hidden.dtype())?, dw, head)
    }
}

impl FusedLogprob {
    /// The backward's result from dL/dh and dL/dW (the latter in the accumulation type): dL/dW
    /// to the sink when there is one, to candle otherwise.
    #[allow(clippy::type_complexity)]
    fn gradients(
        &self,
        dh: Tensor,
        dw: Tensor,
        head: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        match &self.head_grad {
            Some(sink) => {
                sink.add(dw)?;
                Ok((Some(dh), None, None))
            }
            None => Ok((Some(dh), Some(dw.to_dtype(head.dtype())?), None)),
        }
    }
}

/// The backward of [`FusedLogprob`] as one op over the rows given (the caller drops the rows
/// without gradient): from hidden (n, d), head (V, d), targets (n) and each row's lse and
/// g = dL/dlogp (n, accumulation type) it returns [dL/dh (n, d); dL/dW (V, d)] as one
/// (n + V, d) tensor of the accumulation type. The CUDA backward; on CPU (where the backward
/// calls the kernel directly) it checks the plumbing in tests.
struct FusedLogprobGrad {
    chunks: Chunks,
    lse: Tensor,
    g: Tensor,
}

impl CustomOp3 for FusedLogprobGrad {
    fn name(&self) -> &'static str {
        "lgpo-fused-logprob-grad"
    }

    fn cpu_fwd(
        &self,
        hs: &CpuStorage,
        hl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        ts: &CpuStorage,
        tl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, d) = hl.shape().dims2()?;
        let v = wl.shape().dims2()?.0;
        let targets = contiguous_slice::<u32>(ts, tl, self.name())?;
        let (lse, g) =
            (self.lse.to_dtype(DType::F64)?.to_vec1::<f64>()?, self.g.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        dispatch_float!(hs, self.name(), |T| {
            let h = contiguous_slice::<T>(hs, hl, self.name())?;
            let w = contiguous_slice::<T>(ws, wl, self.name())?;
            let acc = |x: &[f64]| x.iter().map(|&v| <T as Element>::Acc::from_f64(v)).collect::<Vec<_>>();
            let (lse, g) = (acc(&lse), acc(&g));
            let rows = Rows { h, targets, lse: &lse, g: &g, kept: None, ids: None };
            let (mut out, dw) = backward_rows::<T, _>(rows, w, d, self.chunks);
            out.extend(dw);
            Ok((<T as Element>::Acc::to_cpu_storage_owned(out), Shape::from((n + v, d))))
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        hs: &candle_core::CudaStorage,
        hl: &Layout,
        ws: &candle_core::CudaStorage,
        wl: &Layout,
        ts: &candle_core::CudaStorage,
        tl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (n, d) = hl.shape().dims2()?;
        let v = wl.shape().dims2()?.0;
        let inputs = crate::cuda::fused_logprob::Inputs { hidden: (hs, hl), head: (ws, wl), targets: (ts, tl) };
        let (lse, lse_layout) = self.lse.storage_and_layout();
        let (g, g_layout) = self.g.storage_and_layout();
        let (Storage::Cuda(lse), Storage::Cuda(g)) = (&*lse, &*g) else {
            candle_core::bail!("{}: lse and g must be on the CUDA device", self.name())
        };
        let out = crate::cuda::fused_logprob::backward(&inputs, (lse, lse_layout), (g, g_layout), self.chunks.into())?;
        Ok((out, Shape::from((n + v, d))))
    }
}

#[cfg(feature = "cuda")]
impl From<Chunks> for crate::cuda::fused_logprob::Tiles {
    fn from(c: Chunks) -> Self {
        crate::cuda::fused_logprob::Tiles { tokens: c.tokens, vocab: c.vocab }
    }
}

/// dL/dh and dL/dW through [`FusedLogprobGrad`], for the rows with a non-zero gradient only
/// (padding, gated and zero-advantage tokens cost nothing); the other rows of dL/dh are zero.
/// Both come back in the accumulation type.
pub(super) fn backward_by_op(
    hidden: &Tensor,
    head: &Tensor,
    targets: &Tensor,
    res: &Tensor,
    grad: &Tensor,
    chunks: Chunks,
) -> candle_core::Result<(Tensor, Tensor)> {
    let (n, d) = hidden.dims2()?;
    let v = head.dim(0)?;
    let acc = res.dtype();
    let g = grad.narrow(1, 0, 1)?.flatten_all()?.to_dtype(acc)?;
    let active: Vec<u32> = g
        .to_dtype(DType::F64)?
        .to_vec1::<f64>()?
        .iter()
        .enumerate()
        .filter(|(_, &x)| x != 0.0)
        .map(|(i, _)| i as u32)
        .collect();
    if active.is_empty() {
        let zeros = |t: &Tensor| Tensor::zeros(t.shape(), acc, t.device());
        return Ok((zeros(hidden)?, zeros(head)?));
    }
    let index = Tensor::new(active.as_slice(), hidden.device())?;
    let every_row = active.len() == n;
    let pick = |t: &Tensor| -> candle_core::Result<Tensor> {
        if every_row {
            t.contiguous()
        } else {
            t.index_select(&index, 0)?.contiguous()
        }
    };
    let op = FusedLogprobGrad { chunks, lse: pick(&res.narrow(1, 2, 1)?.flatten_all()?)?, g: pick(&g)? };
    let packed = pick(hidden)?.apply_op3_no_bwd(&head.contiguous()?, &pick(targets)?, &op)?; // (m + V, d)
    let m = active.len();
    let dh = packed.narrow(0, 0, m)?;
    let dh = if every_row { dh } else { Tensor::zeros((n, d), acc, hidden.device())?.index_add(&index, &dh, 0)? };
    Ok((dh, packed.narrow(0, m, v)?))
}
