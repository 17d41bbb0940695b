//! The CUDA backend of the custom ops (cargo feature `cuda`).
//!
//! The kernels are CUDA C++ beside this file (`*.cu`, helpers in `common.cuh`), compiled to PTX
//! by the build script for `CUDA_COMPUTE_CAP` (sm_90a for H100/H200) and loaded by the driver on
//! first use. The Rust files launch them: each op's `cuda_fwd` in [`crate::ops`] or
//! [`crate::optim`] calls the launcher of the same name here. Semantics are those of the CPU
//! kernels (f32 accumulation; bf16 and f16 storage), and the plain-tensor compositions stay the
//! reference they are checked against (`lgpo-gpu check` on a GPU machine).

pub(crate) mod adamw;
pub(crate) mod blas;
pub(crate) mod fused_logprob;
pub(crate) mod rms_norm;
pub(crate) mod rope;

use candle_core::cuda_backend::cudarc::driver::{CudaFunction, CudaView, CudaViewMut, DeviceRepr, LaunchConfig};
use candle_core::cuda_backend::cudarc::{cublas::sys::cudaDataType, driver::DeviceSlice};
use candle_core::cuda_backend::CudaDType;
use candle_core::{CudaDevice, CudaStorage, Layout, WithDType};

mod ptx {
    include!(concat!(env!("OUT_DIR"), "/ptx.rs"));
}

/// The PTX modules, one per `.cu` file.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Module {
    AdamW,
    FusedLogprob,
    RmsNorm,
    Rope,
}

impl Module {
    fn name_and_ptx(self) -> (&'static str, &'static str) {
        match self {
            Module::AdamW => ("lgpo_adamw", ptx::ADAMW),
            Module::FusedLogprob => ("lgpo_fused_logprob", ptx::FUSED_LOGPROB),
            Module::RmsNorm => ("lgpo_rms_norm", ptx::RMS_NORM),
            Module::Rope => ("lgpo_rope", ptx::ROPE),
        }
    }
}

/// The kernel `name` of `module`, loaded into `dev` once and cached there.
pub(crate) fn kernel(dev: &CudaDevice, module: Module, name: &str) -> candle_core::Result<CudaFunction> {
    let (module_name, ptx) = module.name_and_ptx();
    Ok(dev.get_or_load_custom_func(name, module_name, ptx)?.into_cuda_function())
}

/// A storage element type of the kernels: f32, bf16 or f16.
pub(crate) trait Element: CudaDType + DeviceRepr + WithDType {
    /// Suffix of the kernel instantiations (`rms_norm_fwd_bf16`).
    const SUFFIX: &'static str;
    /// The type as cuBLAS names it.
    const BLAS: cudaDataType;
}

impl Element for f32 {
    const SUFFIX: &'static str = "f32";
    const BLAS: cudaDataType = cudaDataType::CUDA_R_32F;
}

impl Element for half::bf16 {
    const SUFFIX: &'static str = "bf16";
    const BLAS: cudaDataType = cudaDataType::CUDA_R_16BF;
}

impl Element for half::f16 {
    const SUFFIX: &'static str = "f16";
    const BLAS: cudaDataType = cudaDataType::CUDA_R_16F;
}

/// Calls `$body` with `$t` bound to the element type of a float storage (f32, bf16, f16).
macro_rules! dispatch_element {
    ($dtype:expr, $op:expr, |$t:ident| $body:expr) => {
        match $dtype {
            candle_core::DType::F32 => {
                type $t = f32;
                $body
            }
            candle_core::DType::BF16 => {
                type $t = half::bf16;
                $body
            }
            candle_core::DType::F16 => {
                type $t = half::f16;
                $body
            }
            other => candle_core::bail!("{}: unsupported dtype {:?} on CUDA (f32, bf16, f16)", $op, other),
        }
    };
}
pub(crate) use dispatch_element;

/// The contiguous part of `storage` that `layout` describes, or an error naming the op.
pub(crate) fn view<'a, T: CudaDType>(
    storage: &'a CudaStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<CudaView<'a, T>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(storage.as_cuda_slice::<T>()?.slice(start..end)),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// The mutable twin of [`view`], for in-place ops.
pub(crate) fn view_mut<'a, T: CudaDType>(
    storage: &'a mut CudaStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<CudaViewMut<'a, T>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(storage.as_cuda_slice_mut::<T>()?.slice_mut(start..end)),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Threads per block of the row kernels (one block per row) and of the elementwise kernels.
pub(crate) const THREADS: u32 = 256;

/// A launch of `n` independent threads, [`THREADS`] per block.
pub(crate) fn elementwise(n: usize) -> candle_core::Result<LaunchConfig> {
    let blocks = n.div_ceil(THREADS as usize);
    if n == 0 || blocks > i32::MAX as usize {
        candle_core::bail!("cannot launch a kernel over {n} elements");
    }
    Ok(LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 })
}

/// A launch of one block of [`THREADS`] per row, for `rows` rows.
pub(crate) fn per_row(rows: usize) -> candle_core::Result<LaunchConfig> {
    if rows == 0 || rows > i32::MAX as usize {
        candle_core::bail!("cannot launch a kernel over {rows} rows");
    }
    Ok(LaunchConfig { grid_dim: (rows as u32, 1, 1), block_dim: (THREADS, 1, 1), shared_mem_bytes: 0 })
}

/// Checks that a view holds at least `len` elements (a guard before raw-pointer calls).
pub(crate) fn check_len<T>(view: &impl DeviceSlice<T>, len: usize, what: &str) -> candle_core::Result<()> {
    if view.len() < len {
        candle_core::bail!("{what}: {} elements where {len} are needed", view.len());
    }
    Ok(())
}

/// An `i32` kernel argument, or an error when `value` does not fit.
pub(crate) fn int(value: usize, what: &str) -> candle_core::Result<i32> {
    i32::try_from(value).map_err(|_| candle_core::Error::Msg(format!("{what} = {value} does not fit a 32-bit int")))
}
