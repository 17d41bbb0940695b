//! [`Communicator`] over MPI (the `mpi` crate on the system's MPI library, e.g. Open MPI).
//!
//! [`MpiSession::init`] initialises MPI once per process with `MPI_THREAD_SERIALIZED`: calls may
//! come from any thread (the Node addon runs on libuv's pool), one at a time, which the
//! communicator's lock guarantees. Dropping the session finalises MPI; a process started by
//! `mpirun` must do so before it exits.

use std::sync::Mutex;

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator as _, CommunicatorCollectives as _, Root as _};

use super::{Communicator, ReduceOp};
use crate::{Error, Result};

/// MPI, initialised; dropping it finalises MPI.
pub struct MpiSession {
    universe: mpi::environment::Universe,
}

impl MpiSession {
    /// Initialises MPI (once per process) with `MPI_THREAD_SERIALIZED`.
    pub fn init() -> Result<Self> {
        let (universe, level) = mpi::initialize_with_threading(mpi::Threading::Serialized)
            .ok_or_else(|| Error::input("MPI: already initialised in this process"))?;
        if level < mpi::Threading::Serialized {
            return Err(Error::input(format!("MPI: the library offers {level:?}, lgpo needs MPI_THREAD_SERIALIZED")));
        }
        Ok(MpiSession { universe })
    }

    /// The job's world, as a [`Communicator`].
    pub fn communicator(&self) -> MpiCommunicator {
        let world = self.universe.world();
        let (rank, size) = (world.rank() as usize, world.size() as usize);
        MpiCommunicator { world: Mutex::new(World(world)), abort_handle: World(self.universe.world()), rank, size }
    }
}

/// The world communicator's handle, movable between threads.
struct World(SimpleCommunicator);

// SAFETY: the handle is a process-wide MPI object. MPI_THREAD_SERIALIZED (checked at init) lets
// any thread call MPI as long as no two do at once, and every use goes through `MpiCommunicator`'s
// mutex, except MPI_Abort, which ends the job and whose one purpose is to get out of a collective
// that never returns.
unsafe impl Send for World {}
// SAFETY: as above; the only call through a shared reference without the lock is MPI_Abort.
unsafe impl Sync for World {}

/// The MPI job's world. Create it with [`MpiSession::communicator`].
pub struct MpiCommunicator {
    world: Mutex<World>,
    /// A second handle of the world, outside the lock: `abort` must work while a collective
    /// holds it.
    abort_handle: World,
    rank: usize,
    size: usize,
}

impl MpiCommunicator {
    fn with_world<T>(&self, f: impl FnOnce(&SimpleCommunicator) -> T) -> Result<T> {
        let world = self.world.lock().map_err(|_| Error::input("MPI: the communicator lock is poisoned"))?;
        Ok(f(&world.0))
    }
}

impl Communicator for MpiCommunicator {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
        let send = values.to_vec();
        self.with_world(|w| w.all_reduce_into(&send[..], values, SystemOperation::sum()))
    }

    fn all_reduce_f64(&self, values: &mut [f64], op: ReduceOp) -> Result<()> {
        let send = values.to_vec();
        self.with_world(|w| match op {
            ReduceOp::Sum => w.all_reduce_into(&send[..], values, SystemOperation::sum()),
            ReduceOp::Min => w.all_reduce_into(&send[..], values, SystemOperation::min()),
            ReduceOp::Max => w.all_reduce_into(&send[..], values, SystemOperation::max()),
        })
    }

    fn broadcast(&self, bytes: &mut Vec<u8>, root: usize) -> Result<()> {
        if root >= self.size {
            return Err(Error::input(format!("MPI broadcast: root {root} is not a rank of {}", self.size)));
        }
        self.with_world(|w| {
            let process = w.process_at_rank(root as i32);
            let mut len = bytes.len() as u64;
            process.broadcast_into(&mut len);
            bytes.resize(len as usize, 0);
            process.broadcast_into(&mut bytes[..]);
        })
    }

    fn barrier(&self) -> Result<()> {
        self.with_world(|w| w.barrier())
    }

    fn abort(&self, code: i32) -> ! {
        self.abort_handle.0.abort(code)
    }
}
