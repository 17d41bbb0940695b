//! Launchers of `adamw.cu`: the in-place moment and parameter updates on f32 tensors.

use candle_core::cuda_backend::cudarc::driver::PushKernelArg;
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaStorage, Layout};

use super::{elementwise, kernel, view, view_mut, Module};

/// m ← β m + (1 − β) g (or g² when `square`), in place.
pub(crate) fn moment(
    (m, ml): (&mut CudaStorage, &Layout),
    (g, gl): (&CudaStorage, &Layout),
    beta: f32,
    square: bool,
) -> candle_core::Result<()> {
    const OP: &str = "lgpo-adamw-moment";
    let dev = m.device.clone();
    let gv = view::<f32>(g, gl, OP)?;
    let mut mv = view_mut::<f32>(m, ml, OP)?;
    let n = mv.len();
    if gv.len() != n {
        candle_core::bail!("{OP}: moment has {n} values, gradient {}", gv.len());
    }
    let func = kernel(&dev, Module::AdamW, "adamw_moment")?;
    let stream = dev.cuda_stream();
    let square = square as i32;
    let mut args = stream.launch_builder(&func);
    args.arg(&mut mv).arg(&gv).arg(&beta).arg(&square).arg(&n);
    // SAFETY: the argument list matches the kernel's signature; both views hold n values.
    unsafe { args.launch(elementwise(n)?) }.w()?;
    Ok(())
}

/// The hyper-parameters of one AdamW parameter update (see `crate::optim::kernels`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Step {
    pub lr: f32,
    pub weight_decay: f32,
    pub inv_bias1: f32,
    pub inv_bias2: f32,
    pub eps: f32,
}

/// θ ← θ (1 − lr·wd) − lr · (m / b1) / (sqrt(v / b2) + ε), in place.
pub(crate) fn param(
    (p, pl): (&mut CudaStorage, &Layout),
    (m, ml): (&CudaStorage, &Layout),
    (v, vl): (&CudaStorage, &Layout),
    step: Step,
) -> candle_core::Result<()> {
    const OP: &str = "lgpo-adamw-param";
    let dev = p.device.clone();
    let (mv, vv) = (view::<f32>(m, ml, OP)?, view::<f32>(v, vl, OP)?);
    let mut pv = view_mut::<f32>(p, pl, OP)?;
    let n = pv.len();
    if mv.len() != n || vv.len() != n {
        candle_core::bail!("{OP}: parameter and moments differ in size");
    }
    let func = kernel(&dev, Module::AdamW, "adamw_param")?;
    let stream = dev.cuda_stream();
    let mut args = stream.launch_builder(&func);
    args.arg(&mut pv)
        .arg(&mv)
        .arg(&vv)
        .arg(&step.lr)
        .arg(&step.weight_decay)
        .arg(&step.inv_bias1)
        .arg(&step.inv_bias2)
        .arg(&step.eps)
        .arg(&n);
    // SAFETY: the argument list matches the kernel's signature; the three views hold n values.
    unsafe { args.launch(elementwise(n)?) }.w()?;
    Ok(())
}
