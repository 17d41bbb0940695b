//! The job this process belongs to: one process on its own, or a rank of an MPI job started by a
//! launcher (`mpirun`, `srun`), told apart by the launcher's environment.

use std::sync::Arc;

use candle_core::Device;

use super::{Communicator, SingleProcess};
use crate::{Error, Result};

/// Environment variables in which launchers state the job's number of ranks: Open MPI's
/// `mpirun`, MPICH/Hydra and PMI-2 launchers, and Slurm's `srun`.
const SIZE_VARIABLES: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"];

/// The number of ranks a launcher started this process among, `None` when no launcher did. Slurm's
/// variable counts only for a process `srun` started (`SLURM_PROCID` set), not for a batch script.
pub fn launcher_world_size() -> Option<usize> {
    SIZE_VARIABLES.iter().find_map(|&name| {
        if name == "SLURM_NTASKS" && std::env::var_os("SLURM_PROCID").is_none() {
            return None;
        }
        std::env::var(name).ok()?.parse().ok()
    })
}

/// This process's index among the ranks on its machine (`OMPI_COMM_WORLD_LOCAL_RANK`,
/// `MPI_LOCALRANKID`, or `srun`'s `SLURM_LOCALID`), `None` when no launcher says: the GPU a rank
/// uses when its config names `cuda` without an ordinal.
pub fn launcher_local_rank() -> Option<usize> {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"]
        .iter()
        .find_map(|&name| std::env::var(name).ok()?.parse().ok())
}

/// The device a rank loads its policy on: a bare `cuda` means the rank's own GPU (its local
/// rank) when a launcher started several ranks; any other name as given.
pub fn rank_device(name: &str) -> String {
    device_of_rank(name, launcher_local_rank(), launcher_world_size())
}

fn device_of_rank(name: &str, local_rank: Option<usize>, world_size: Option<usize>) -> String {
    match (name, local_rank, world_size) {
        ("cuda", Some(local), Some(size)) if size > 1 => format!("cuda:{local}"),
        _ => name.to_string(),
    }
}

/// This process's communicator for the life of the process. Dropping it finalises MPI, which a
/// rank must do before it exits.
pub struct ProcessWorld {
    comm: Arc<dyn Communicator>,
    backend: &'static str,
    /// Set up on the first CUDA policy (a collective: every rank loads its policy at once).
    /// Declared before the session, so it is dropped before MPI is finalised.
    #[cfg(feature = "nccl")]
    nccl: std::sync::Mutex<Option<Arc<dyn Communicator>>>,
    #[cfg(feature = "mpi")]
    _session: Option<super::mpi::MpiSession>,
}

impl ProcessWorld {
    /// MPI when a launcher started this process (even as the only rank, which exercises the
    /// path), else a single process. Launched as one of several ranks by an addon built without
    /// the `mpi` feature is an error that says how to build it.
    pub fn init() -> Result<Self> {
        let launched = launcher_world_size();
        #[cfg(feature = "mpi")]
        if launched.is_some() {
            let session = super::mpi::MpiSession::init()?;
            let comm = Arc::new(session.communicator());
            return Ok(ProcessWorld {
                comm,
                backend: "mpi",
                _session: Some(session),
                #[cfg(feature = "nccl")]
                nccl: Default::default(),
            });
        }
        if let Some(size) = launched.filter(|&n| n > 1) {
            return Err(Error::input(format!(
                "started by an MPI launcher as one of {size} ranks, but lgpo was built without MPI: rebuild with \
                 the `mpi` feature (LGPO_CARGO_FEATURES=mpi npm run build; docs/distributed.md)"
            )));
        }
        Ok(Self::single())
    }

    /// A process on its own.
    pub fn single() -> Self {
        ProcessWorld {
            comm: Arc::new(SingleProcess),
            backend: "single",
            #[cfg(feature = "mpi")]
            _session: None,
            #[cfg(feature = "nccl")]
            nccl: Default::default(),
        }
    }

    /// The job's communicator.
    pub fn communicator(&self) -> Arc<dyn Communicator> {
        self.comm.clone()
    }

    /// `single` or `mpi`.
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// The communicator a policy on `device` trains with: with the `nccl` feature, NCCL for a
    /// CUDA device of a job of several ranks (set up by the first such call on every rank, over
    /// the world's communicator), else the world's.
    pub fn communicator_for(&self, device: &Device) -> Result<Arc<dyn Communicator>> {
        #[cfg(feature = "nccl")]
        if device.is_cuda() && self.comm.size() > 1 {
            let mut nccl = self.nccl.lock().map_err(|_| Error::input("NCCL: the world's lock is poisoned"))?;
            if nccl.is_none() {
                *nccl = Some(Arc::new(super::nccl::NcclCommunicator::new(self.comm.clone(), device)?));
            }
            return Ok(nccl.clone().expect("set above"));
        }
        let _ = device;
        Ok(self.comm.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::device_of_rank;

    #[test]
    fn a_bare_cuda_is_the_ranks_own_gpu_only_among_several_ranks() {
        assert_eq!(device_of_rank("cuda", Some(3), Some(4)), "cuda:3");
        assert_eq!(device_of_rank("cuda", Some(0), Some(1)), "cuda");
        assert_eq!(device_of_rank("cuda", None, None), "cuda");
        assert_eq!(device_of_rank("cuda:1", Some(3), Some(4)), "cuda:1");
        assert_eq!(device_of_rank("cpu", Some(3), Some(4)), "cpu");
    }
}
