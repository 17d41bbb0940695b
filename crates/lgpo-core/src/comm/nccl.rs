//! [`Communicator`] whose gradient all-reduce runs on the GPU through NCCL (cudarc's bindings),
//! with a bootstrap communicator for everything else (MPI in a job of several ranks; a single
//! process runs NCCL as one rank): the NCCL unique id is broadcast over it, and the scalar
//! collectives, broadcasts and barriers stay on it (they are a few numbers per step).

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::nccl::safe::{Comm, Id, ReduceOp as NcclOp};
use candle_core::{CudaDevice, CudaStorage, Device, Layout, Shape, Tensor};

use super::{Communicator, ReduceOp};
use crate::{bail_input, Error, Result};

/// The NCCL communicator of one rank.
struct NcclComm(Comm);

// SAFETY: an NCCL communicator may be used from any thread as long as no two threads use it at
// once; every use goes through `NcclCommunicator`'s mutex.
unsafe impl Send for NcclComm {}

/// The job's world with NCCL for GPU tensors. Create it with [`NcclCommunicator::new`] on every
/// rank at once (a collective).
pub struct NcclCommunicator {
    bootstrap: Arc<dyn Communicator>,
    nccl: Mutex<NcclComm>,
}

impl NcclCommunicator {
    /// Sets up NCCL among `bootstrap`'s ranks, each on its `device` (one GPU per rank): rank 0
    /// creates the unique id and broadcasts it over `bootstrap`.
    pub fn new(bootstrap: Arc<dyn Communicator>, device: &Device) -> Result<Self> {
        let boot = bootstrap.as_ref();
        let Device::Cuda(cuda) = device else {
            bail_input!("NCCL needs a CUDA device, got {device:?}");
        };
        let mut id_bytes = if boot.rank() == 0 {
            Id::new()
                .map_err(|e| nccl_error("creating the unique id", e))?
                .internal()
                .iter()
                .map(|&c| c as u8)
                .collect()
        } else {
            Vec::new()
        };
        boot.broadcast(&mut id_bytes, 0)?;
        let internal: [std::ffi::c_char; 128] = std::array::from_fn(|i| id_bytes.get(i).copied().unwrap_or(0) as _);
        if id_bytes.len() != internal.len() {
            return Err(Error::input(format!("NCCL: the unique id has {} bytes, not 128", id_bytes.len())));
        }
        let comm = Comm::from_rank(cuda.cuda_stream(), boot.rank(), boot.size(), Id::uninit(internal))
            .map_err(|e| nccl_error("joining the communicator", e))?;
        Ok(NcclCommunicator { bootstrap, nccl: Mutex::new(NcclComm(comm)) })
    }
}

fn nccl_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::input(format!("NCCL: {what}: {e:?}"))
}

/// The element-wise sum of a contiguous f32 or bf16 tensor over the ranks, as a custom op so
/// that NCCL reads and writes candle's device buffers on candle's stream.
struct AllReduceSum<'a> {
    comm: &'a Mutex<NcclComm>,
}

impl candle_core::CustomOp1 for AllReduceSum<'_> {
    fn name(&self) -> &'static str {
        "lgpo-nccl-all-reduce-sum"
    }

    fn cpu_fwd(
        &self,
        _: &candle_core::CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, Shape)> {
        candle_core::bail!("NCCL all-reduce: the tensor is on the CPU")
    }

    fn cuda_fwd(&self, storage: &CudaStorage, layout: &Layout) -> candle_core::Result<(CudaStorage, Shape)> {
        if !layout.is_contiguous() || layout.start_offset() != 0 {
            candle_core::bail!("NCCL all-reduce: the bucket must be contiguous from its start");
        }
        let dev: CudaDevice = storage.device().clone();
        let n = layout.shape().elem_count();
        let comm = self.comm.lock().map_err(|_| candle_core::Error::Msg("NCCL: the lock is poisoned".into()))?;
        let out = match storage.dtype() {
            candle_core::DType::F32 => {
                let mut sum = dev.alloc_zeros::<f32>(n)?;
                comm.0
                    .all_reduce(storage.as_cuda_slice::<f32>()?, &mut sum, &NcclOp::Sum)
                    .map_err(|e| candle_core::Error::Msg(format!("NCCL all-reduce: {e:?}")))?;
                CudaStorage::wrap_cuda_slice(sum, dev)
            }
            candle_core::DType::BF16 => {
                let mut sum = dev.alloc_zeros::<half::bf16>(n)?;
                comm.0
                    .all_reduce(storage.as_cuda_slice::<half::bf16>()?, &mut sum, &NcclOp::Sum)
                    .map_err(|e| candle_core::Error::Msg(format!("NCCL all-reduce: {e:?}")))?;
                CudaStorage::wrap_cuda_slice(sum, dev)
            }
            other => candle_core::bail!("NCCL all-reduce: f32 or bf16 buckets, got {other:?}"),
        };
        Ok((out, layout.shape().clone()))
    }
}

impl Communicator for NcclCommunicator {
    fn rank(&self) -> usize {
        self.bootstrap.rank()
    }

    fn size(&self) -> usize {
        self.bootstrap.size()
    }

    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
        self.bootstrap.all_reduce_sum_f32(values)
    }

    fn all_reduce_f64(&self, values: &mut [f64], op: ReduceOp) -> Result<()> {
        self.bootstrap.all_reduce_f64(values, op)
    }

    /// On the GPU for CUDA tensors (no host copy); through the bootstrap for CPU tensors.
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        if !t.device().is_cuda() {
            return self.bootstrap.all_reduce_sum_tensor(t);
        }
        Ok(t.contiguous()?.apply_op1_no_bwd(&AllReduceSum { comm: &self.nccl })?)
    }

    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        self.bootstrap.broadcast(bytes, root)
    }

    fn barrier(&self) -> Result<()> {
        self.bootstrap.barrier()
    }

    fn abort(&self, code: i32) -> ! {
        self.bootstrap.abort(code)
    }
}
