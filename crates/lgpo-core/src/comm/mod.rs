//! Data-parallel communication: the few collectives a training step needs, behind one trait, so
//! that the step is written once for one process and for N ranks.
//!
//! Each rank holds a full copy of the policy and trains on its share of the minibatch; before the
//! optimizer step the ranks sum their loss denominators, their gradients and their statistics, so
//! every rank takes the step one process would take on the whole minibatch (up to float summation
//! order) and the weights stay identical without ever being sent.
//!
//! Backends: [`SingleProcess`] (no communication; the default); with the `mpi` cargo feature,
//! `mpi::MpiCommunicator` (from an `mpi::MpiSession`) over the system's MPI library (Open MPI),
//! launched by `mpirun` or `srun`; with the `nccl` feature, `nccl::NcclCommunicator`, which
//! all-reduces GPU tensors through NCCL and leaves the rest to MPI. Existing engines carry the
//! bytes; nothing here is a transport of its own.

#[cfg(feature = "mpi")]
pub mod mpi;
#[cfg(feature = "nccl")]
pub mod nccl;
mod world;

pub use world::{launcher_local_rank, launcher_world_size, rank_device, ProcessWorld};

use candle_core::{DType, Tensor};

use crate::Result;

/// How [`Communicator::all_reduce_f64`] combines the ranks' values, element by element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Min,
    Max,
}

/// The collectives of data-parallel training. Every rank must make the same calls in the same
/// order with buffers of the same length (the backends check what they can).
pub trait Communicator: Send + Sync {
    /// This process's rank, 0..size.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn size(&self) -> usize;
    /// Replaces `values` on every rank by their element-wise sum over the ranks.
    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()>;
    /// Replaces `values` on every rank by their element-wise `op` over the ranks.
    fn all_reduce_f64(&self, values: &mut [f64], op: ReduceOp) -> Result<()>;
    /// `t` summed element-wise over the ranks, on `t`'s device and in its dtype. The default goes
    /// through host memory in f32 ([`Communicator::all_reduce_sum_f32`]); NCCL stays on the GPU.
    fn all_reduce_sum_tensor(&self, t: &Tensor) -> Result<Tensor> {
        let mut values = t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        self.all_reduce_sum_f32(&mut values)?;
        Ok(Tensor::from_slice(&values, t.shape(), t.device())?.to_dtype(t.dtype())?)
    }
    /// Replaces `bytes` on every rank by rank `root`'s (whose length the others need not know).
    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
    /// Ends every rank of the job with exit status `code` (MPI_Abort): the way out when a rank
    /// waited too long for the others. Callable while another thread is blocked in a collective.
    fn abort(&self, code: i32) -> !;
}

/// One process, no communication: every collective leaves its buffer as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct SingleProcess;

impl Communicator for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn all_reduce_sum_f32(&self, _values: &mut [f32]) -> Result<()> {
        Ok(())
    }
    fn all_reduce_f64(&self, _values: &mut [f64], _op: ReduceOp) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _bytes: &mut Vec<u8>, _root: usize) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The index of this rank's first item in the concatenation of every rank's `count` items, in
/// rank order (an exclusive prefix sum over the ranks), and the total.
pub fn offset_and_total(comm: &dyn Communicator, count: usize) -> Result<(usize, usize)> {
    let mut counts = vec![0.0; comm.size()];
    counts[comm.rank()] = count as f64;
    comm.all_reduce_f64(&mut counts, ReduceOp::Sum)?;
    let offset = counts[..comm.rank()].iter().sum::<f64>() as usize;
    Ok((offset, counts.iter().sum::<f64>() as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ranks holding the same values, as one process sees them.
    struct TwinRanks;

    impl Communicator for TwinRanks {
        fn rank(&self) -> usize {
            0
        }
        fn size(&self) -> usize {
            2
        }
        fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
            values.iter_mut().for_each(|v| *v *= 2.0);
            Ok(())
        }
        fn all_reduce_f64(&self, _values: &mut [f64], _op: ReduceOp) -> Result<()> {
            unimplemented!("not used here")
        }
        fn broadcast(&self, _bytes: &mut Vec<u8>, _root: usize) -> Result<()> {
            unimplemented!("not used here")
        }
        fn barrier(&self) -> Result<()> {
            unimplemented!("not used here")
        }
        fn abort(&self, _code: i32) -> ! {
            unimplemented!("not used here")
        }
    }

    #[test]
    fn a_tensor_all_reduce_keeps_shape_and_dtype_by_default() -> Result<()> {
        let t = Tensor::new(&[[1.0f32, -2.5], [0.25, 4.0]], &candle_core::Device::Cpu)?;
        let summed = TwinRanks.all_reduce_sum_tensor(&t)?;
        assert_eq!(summed.dims(), t.dims());
        assert_eq!(summed.to_vec2::<f32>()?, vec![vec![2.0, -5.0], vec![0.5, 8.0]]);
        let half = TwinRanks.all_reduce_sum_tensor(&t.to_dtype(DType::BF16)?)?;
        assert_eq!(half.dtype(), DType::BF16);
        Ok(())
    }

    #[test]
    fn a_single_process_is_rank_0_of_1_and_changes_nothing() -> Result<()> {
        let comm = SingleProcess;
        let mut v = [1.5f32, -2.0];
        comm.all_reduce_sum_f32(&mut v)?;
        assert_eq!(v, [1.5, -2.0]);
        assert_eq!(offset_and_total(&comm, 7)?, (0, 7));
        Ok(())
    }
}
