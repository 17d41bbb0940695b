//! Devices and compute dtypes by name, as configs, the SDK and the CLI spell them: `cpu`, `cuda`,
//! `cuda:N`; `f32`, `bf16`, `f16`. The default dtype is f32 on CPU and bf16 on CUDA (mixed
//! precision: bf16 weights and activations, f32 master weights, optimizer state, log-sum-exp and
//! loss arithmetic).

use candle_core::{DType, Device};

use crate::{bail_input, Result};

/// Whether this build of lgpo-core can run on CUDA devices (the `cuda` cargo feature).
pub const CUDA_BUILT: bool = cfg!(feature = "cuda");

/// The device when none is named.
pub const DEFAULT_DEVICE: &str = "cpu";

/// The device called `name`, or [`DEFAULT_DEVICE`] when `None`.
pub fn parse_device_or_default(name: Option<&str>) -> Result<Device> {
    parse_device(name.unwrap_or(DEFAULT_DEVICE))
}

/// The device called `name`: `cpu`, `cuda` (device 0) or `cuda:N`.
///
/// A CUDA device gets its own stream, so every call that uses it is ordered on one stream
/// whichever thread makes it (the Node addon runs calls on a thread pool).
pub fn parse_device(name: &str) -> Result<Device> {
    let ordinal = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => match other.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => bail_input!("device: `{other}` is not cpu, cuda or cuda:N"),
        },
    };
    if !CUDA_BUILT {
        bail_input!("device: `{name}` needs a build with CUDA support (cargo feature `cuda`; see docs/gpu.md)");
    }
    Device::new_cuda_with_stream(ordinal).map_err(|e| crate::Error::input(format!("device: cannot use `{name}`: {e}")))
}

/// The dtype called `name` (`f32`, `bf16` or `f16`), or the device's default when `None`:
/// f32 on CPU, bf16 on CUDA.
pub fn parse_dtype(name: Option<&str>, device: &Device) -> Result<DType> {
    match name {
        None if device.is_cpu() => Ok(DType::F32),
        None => Ok(DType::BF16),
        Some("f32") => Ok(DType::F32),
        Some("bf16") => Ok(DType::BF16),
        Some("f16") => Ok(DType::F16),
        Some(other) => bail_input!("dtype: `{other}` is not f32, bf16 or f16"),
    }
}

/// The name of `dtype` as [`parse_dtype`] reads it.
pub fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::BF16 => "bf16",
        DType::F16 => "f16",
        DType::F64 => "f64",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices_and_dtypes() -> Result<()> {
        assert!(parse_device("cpu")?.is_cpu());
        for bad in ["gpu", "cuda:", "cuda:x", "cuda0", ""] {
            let err = parse_device(bad).unwrap_err().to_string();
            assert!(err.contains("device") && err.contains("cpu, cuda or cuda:N"), "{bad}: {err}");
        }
        assert_eq!(parse_dtype(None, &Device::Cpu)?, DType::F32);
        assert_eq!(parse_dtype(Some("bf16"), &Device::Cpu)?, DType::BF16);
        assert_eq!(parse_dtype(Some("f16"), &Device::Cpu)?, DType::F16);
        assert!(parse_dtype(Some("fp32"), &Device::Cpu).unwrap_err().to_string().contains("dtype: `fp32`"));
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            assert_eq!(parse_dtype(Some(dtype_name(dtype)), &Device::Cpu)?, dtype);
        }
        Ok(())
    }

    /// Without the feature a CUDA device is refused with a message that says how to get one;
    /// with it (on a machine without a GPU) the driver's error is named.
    #[test]
    fn cuda_without_support_is_a_clear_error() {
        if let Err(e) = parse_device("cuda:1") {
            let message = e.to_string();
            assert!(message.contains("device") && message.contains("cuda:1"), "{message}");
            if !CUDA_BUILT {
                assert!(message.contains("feature `cuda`"), "{message}");
            }
        }
    }
}
