//! Launcher of `rope.cu`.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, Layout};

use super::{dispatch_element, elementwise, int, kernel, view, Element, Module};

/// Rotates x (B, H, T, D) by the per-row angles cos, sin (B, T, D/2), in x's type.
pub(crate) fn forward(
    (x, xl): (&CudaStorage, &Layout),
    (cos, cl): (&CudaStorage, &Layout),
    (sin, sl): (&CudaStorage, &Layout),
) -> candle_core::Result<CudaStorage> {
    const OP: &str = "lgpo-rope";
    let dev = x.device();
    let (_b, h, t, d) = xl.shape().dims4()?;
    let n = xl.shape().elem_count();
    dispatch_element!(x.dtype(), OP, |T| {
        let (xv, cv, sv) = (view::<T>(x, xl, OP)?, view::<T>(cos, cl, OP)?, view::<T>(sin, sl, OP)?);
        // SAFETY: each thread writes both elements of its pair; the pairs cover the tensor.
        let mut y = unsafe { dev.alloc::<T>(n)? };
        let func = kernel(dev, Module::Rope, &format!("rope_{}", T::SUFFIX))?;
        let stream = dev.cuda_stream();
        let (h_arg, t_arg, d_arg, pairs) =
            (int(h, "rope heads")?, int(t, "rope time")?, int(d, "rope head_dim")?, n / 2);
        let mut args = stream.launch_builder(&func);
        args.arg(&xv).arg(&cv).arg(&sv).arg(&mut y).arg(&h_arg).arg(&t_arg).arg(&d_arg).arg(&pairs);
        // SAFETY: the argument list matches the kernel's signature; one thread per pair.
        unsafe { args.launch(elementwise(pairs)?) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
    })
}
