//! Helpers shared by the CPU kernels of the custom ops.

use candle_core::{CpuStorage, Layout, WithDType};

/// The contiguous slice of `storage` described by `layout`, or an error naming the op.
pub(crate) fn contiguous_slice<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [T]> {
    let data = T::cpu_storage_as_slice(storage)?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Calls `$body` with `$t` bound to the element type of a float storage (f32, f64, bf16, f16).
macro_rules! dispatch_float {
    ($storage:expr, $op:expr, |$t:ident| $body:expr) => {
        match $storage {
            candle_core::CpuStorage::F32(_) => {
                type $t = f32;
                $body
            }
            candle_core::CpuStorage::F64(_) => {
                type $t = f64;
                $body
            }
            candle_core::CpuStorage::BF16(_) => {
                type $t = half::bf16;
                $body
            }
            candle_core::CpuStorage::F16(_) => {
                type $t = half::f16;
                $body
            }
            other => candle_core::bail!(
                "{}: unsupported dtype {:?}",
                $op,
                candle_core::backend::BackendStorage::dtype(other)
            ),
        }
    };
}
pub(crate) use dispatch_float;
