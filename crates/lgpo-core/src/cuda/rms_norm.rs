//! Launchers of `rms_norm.cu`: the forward, and the backward into an f32 (2·rows, d) buffer of
//! dL/dx and the per-row terms of dL/dw.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, Layout};

use super::{dispatch_element, int, kernel, per_row, view, Element, Module};

/// y = rms_norm(x, w) for x (rows, d) and w (d), in x's type.
pub(crate) fn forward(
    x: &CudaStorage,
    xl: &Layout,
    w: &CudaStorage,
    wl: &Layout,
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    const OP: &str = "lgpo-rms-norm";
    let dev = x.device();
    let d = wl.shape().elem_count();
    let rows = xl.shape().elem_count() / d;
    dispatch_element!(x.dtype(), OP, |T| {
        let (xv, wv) = (view::<T>(x, xl, OP)?, view::<T>(w, wl, OP)?);
        // SAFETY: every element is written by the kernel.
        let mut y = unsafe { dev.alloc::<T>(rows * d)? };
        let func = kernel(dev, Module::RmsNorm, &format!("rms_norm_fwd_{}", T::SUFFIX))?;
        let stream = dev.cuda_stream();
        let (d_arg, eps_arg) = (int(d, "rms_norm dim")?, eps as f32);
        let mut args = stream.launch_builder(&func);
        args.arg(&xv).arg(&wv).arg(&mut y).arg(&d_arg).arg(&eps_arg);
        // SAFETY: the argument list matches the kernel's signature; sizes are rows × d.
        unsafe { args.launch(per_row(rows)?) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
    })
}

/// [dL/dx; g ⊙ x̂] as one f32 (2·rows, d) buffer for x (rows, d), w (d) and g = dL/dy (rows, d).
pub(crate) fn backward(
    (x, xl): (&CudaStorage, &Layout),
    (w, wl): (&CudaStorage, &Layout),
    (g, gl): (&CudaStorage, &Layout),
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    const OP: &str = "lgpo-rms-norm-grad";
    let dev = x.device();
    let d = wl.shape().elem_count();
    let rows = xl.shape().elem_count() / d;
    dispatch_element!(x.dtype(), OP, |T| {
        let (xv, wv, gv) = (view::<T>(x, xl, OP)?, view::<T>(w, wl, OP)?, view::<T>(g, gl, OP)?);
        // SAFETY: every element of both halves is written by the kernel.
        let mut out = unsafe { dev.alloc::<f32>(2 * rows * d)? };
        {
            let (mut dx, mut dw_rows) = out.split_at_mut(rows * d);
            let func = kernel(dev, Module::RmsNorm, &format!("rms_norm_bwd_{}", T::SUFFIX))?;
            let stream = dev.cuda_stream();
            let (d_arg, eps_arg) = (int(d, "rms_norm dim")?, eps as f32);
            let mut args = stream.launch_builder(&func);
            args.arg(&xv).arg(&wv).arg(&gv).arg(&mut dx).arg(&mut dw_rows).arg(&d_arg).arg(&eps_arg);
            // SAFETY: the argument list matches the kernel's signature; sizes are rows × d.
            unsafe { args.launch(per_row(rows)?) }.w()?;
        }
        Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
    })
}
