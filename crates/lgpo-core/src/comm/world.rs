//! The job this process belongs to: one process on its own, or a rank of an MPI job started by a
//! launcher (`mpirun`, `srun`), told apart by the launcher's environment.

use std::sync::Arc;

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

/// This process's communicator for the life of the process. Dropping it finalises MPI, which a
/// rank must do before it exits.
pub struct ProcessWorld {
    comm: Arc<dyn Communicator>,
    backend: &'static str,
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
            return Ok(ProcessWorld { comm, backend: "mpi", _session: Some(session) });
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
}
