//! The NCCL path of data-parallel training on the GPU machine (feature `nccl`): the gradient
//! bucket's all-reduce through `lgpo_core::comm::nccl::NcclCommunicator`, as a job of one rank
//! (one GPU exercises the whole path: the unique id, the communicator, the custom op on candle's
//! stream), checked against the bucket itself (the sum over one rank) and timed at a bucket of
//! the Qwen2.5-0.5B gradient's size.

use candle_core::Device;
use serde::Serialize;

use crate::report::Comparisons;
use lgpo_core::Result;

/// What `lgpo-gpu nccl` measured.
#[derive(Debug, Serialize)]
pub struct NcclReport {
    pub ranks: usize,
    pub checks: Comparisons,
    /// f32 elements of the timed bucket.
    pub bucket_elements: usize,
    /// Seconds per all-reduce of the bucket (mean of 5, after a warm-up).
    pub all_reduce_s: f64,
}

/// Whether this binary was built with the `nccl` feature.
pub const BUILT: bool = cfg!(feature = "nccl");

/// Runs the checks and the timing on `device` (CUDA).
#[cfg(feature = "nccl")]
pub fn run(device: &Device, bucket_elements: usize) -> Result<NcclReport> {
    use std::sync::Arc;
    use std::time::Instant;

    use candle_core::{DType, Tensor};
    use lgpo_core::comm::nccl::NcclCommunicator;
    use lgpo_core::comm::{Communicator, SingleProcess};

    let comm = NcclCommunicator::new(Arc::new(SingleProcess), device)?;
    let mut checks = Comparisons::default();
    for dtype in [DType::F32, DType::BF16] {
        let bucket = Tensor::randn(0f32, 1.0, 1 << 20, device)?.to_dtype(dtype)?;
        let summed = comm.all_reduce_sum_tensor(&bucket)?;
        checks.compare(format!("nccl all-reduce {dtype:?}, 1 rank = the bucket"), &summed, &bucket, 0.0)?;
    }
    let bucket = Tensor::ones(bucket_elements, DType::F32, device)?;
    comm.all_reduce_sum_tensor(&bucket)?;
    device.synchronize()?;
    let start = Instant::now();
    const REPEATS: u32 = 5;
    for _ in 0..REPEATS {
        comm.all_reduce_sum_tensor(&bucket)?;
    }
    device.synchronize()?;
    let all_reduce_s = start.elapsed().as_secs_f64() / f64::from(REPEATS);
    Ok(NcclReport { ranks: comm.size(), checks, bucket_elements, all_reduce_s })
}

/// Without the `nccl` feature: an input error that says how to build it.
#[cfg(not(feature = "nccl"))]
pub fn run(device: &Device, bucket_elements: usize) -> Result<NcclReport> {
    let _ = (device, bucket_elements);
    lgpo_core::bail_input!(
        "lgpo-gpu was built without the nccl feature (LGPO_GPU_FEATURES=cuda,nccl scripts/gpu/build.sh)"
    )
}
