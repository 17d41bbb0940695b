//! What a device is (name, memory, multiprocessors, compute capability), the peak bf16 rate it is
//! measured against, and the high-water mark of its memory use.

use candle_core::Device;
use serde::Serialize;

use lgpo_core::Result;

/// Properties of the device a run used.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceInfo {
    /// `cpu` or the GPU's name (`NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Compute capability, e.g. `9.0` (GPU only).
    pub compute_capability: Option<String>,
    /// Device memory in bytes (GPU only).
    pub memory_bytes: Option<u64>,
    /// Streaming multiprocessors (GPU only).
    pub multiprocessors: Option<u32>,
    /// Version of the CUDA driver API, e.g. 13000 (GPU only).
    pub driver_cuda_version: Option<i32>,
    /// Dense bf16 tensor-core peak of the data sheet in FLOP/s, when the GPU is known.
    pub datasheet_bf16_flops: Option<f64>,
    /// Threads of the CPU thread pool.
    pub cpu_threads: usize,
    /// Whether this binary was built with CUDA support.
    pub cuda_built: bool,
}

/// The data-sheet dense bf16 peak (FLOP/s, without sparsity) of the GPUs MFU is reported for.
pub fn datasheet_bf16_flops(name: &str) -> Option<f64> {
    let name = name.to_ascii_uppercase();
    if name.contains("H100") && name.contains("PCIE") {
        Some(756e12)
    } else if name.contains("H100") && name.contains("NVL") {
        Some(835e12)
    } else if name.contains("H100") || name.contains("H200") || name.contains("H800") || name.contains("GH200") {
        Some(989.4e12) // SXM
    } else if name.contains("A100") {
        Some(312e12)
    } else {
        None
    }
}

/// The properties of `device`.
pub fn describe(device: &Device) -> Result<DeviceInfo> {
    let cpu_threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(dev) => cuda::describe(dev, cpu_threads),
        _ => Ok(DeviceInfo {
            name: "cpu".into(),
            compute_capability: None,
            memory_bytes: None,
            multiprocessors: None,
            driver_cuda_version: None,
            datasheet_bf16_flops: None,
            cpu_threads,
            cuda_built: lgpo_core::device::CUDA_BUILT,
        }),
    }
}

/// Starts measuring the peak memory of `device` from now: the GPU's memory pool high-water mark,
/// or the process's peak resident set on the CPU (Linux `/proc/self/clear_refs`).
pub fn reset_peak_memory(device: &Device) -> Result<()> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(dev) => cuda::reset_pool_peak(dev),
        _ => {
            // "5" resets the peak resident set size (VmHWM) to the current one.
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            Ok(())
        }
    }
}

/// The peak memory of `device` since [`reset_peak_memory`], in bytes.
pub fn peak_memory(device: &Device) -> Result<u64> {
    match device {
        #[cfg(feature = "cuda")]
        Device::Cuda(dev) => cuda::pool_peak(dev),
        _ => {
            let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let kib = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0);
            Ok(kib * 1024)
        }
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    use candle_core::cuda_backend::cudarc::driver::sys;
    use candle_core::CudaDevice;

    use super::DeviceInfo;
    use lgpo_core::Result;

    fn check(result: sys::CUresult, what: &str) -> Result<()> {
        if result == sys::CUresult::CUDA_SUCCESS {
            Ok(())
        } else {
            Err(lgpo_core::Error::input(format!("{what} failed: {result:?}")))
        }
    }

    pub fn describe(dev: &CudaDevice, cpu_threads: usize) -> Result<DeviceInfo> {
        let stream = dev.cuda_stream();
        let ctx = stream.context();
        let driver_error =
            |e: candle_core::cuda_backend::cudarc::driver::DriverError| lgpo_core::Error::input(e.to_string());
        let name = ctx.name().map_err(driver_error)?;
        let (major, minor) = ctx.compute_capability().map_err(driver_error)?;
        let sms =
            ctx.attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT).map_err(driver_error)?;
        let mut version = 0;
        // SAFETY: a plain query that writes one int.
        check(unsafe { sys::cuDriverGetVersion(&mut version) }, "cuDriverGetVersion")?;
        Ok(DeviceInfo {
            datasheet_bf16_flops: super::datasheet_bf16_flops(&name),
            name,
            compute_capability: Some(format!("{major}.{minor}")),
            memory_bytes: Some(ctx.total_mem().map_err(driver_error)? as u64),
            multiprocessors: Some(sms as u32),
            driver_cuda_version: Some(version),
            cpu_threads,
            cuda_built: true,
        })
    }

    /// The device's default memory pool, which candle's stream-ordered allocations come from.
    fn pool(dev: &CudaDevice) -> Result<sys::CUmemoryPool> {
        let stream = dev.cuda_stream();
        let mut pool = std::ptr::null_mut();
        // SAFETY: writes the pool handle of a valid device.
        check(
            unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, stream.context().cu_device()) },
            "cuDeviceGetDefaultMemPool",
        )?;
        Ok(pool)
    }

    pub fn reset_pool_peak(dev: &CudaDevice) -> Result<()> {
        dev.cuda_stream().synchronize().map_err(|e| lgpo_core::Error::input(e.to_string()))?;
        let mut zero = 0u64;
        let attr = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH;
        // SAFETY: the attribute takes a u64; setting it to 0 resets the high-water mark.
        check(
            unsafe { sys::cuMemPoolSetAttribute(pool(dev)?, attr, &mut zero as *mut u64 as *mut _) },
            "reset pool peak",
        )
    }

    pub fn pool_peak(dev: &CudaDevice) -> Result<u64> {
        dev.cuda_stream().synchronize().map_err(|e| lgpo_core::Error::input(e.to_string()))?;
        let mut peak = 0u64;
        let attr = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH;
        // SAFETY: the attribute is a u64 written to `peak`.
        check(
            unsafe { sys::cuMemPoolGetAttribute(pool(dev)?, attr, &mut peak as *mut u64 as *mut _) },
            "read pool peak",
        )?;
        Ok(peak)
    }
}
