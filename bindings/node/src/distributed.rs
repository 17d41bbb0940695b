//! The process's data-parallel world (lgpo_core::comm): set up once, given to every policy loaded
//! after, and the collectives the trainer's JS side needs. Collectives block until every rank
//! calls them, so they run off the JS thread.

use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::AsyncTask;
use napi::{Env, Result, Task};
use napi_derive::napi;

use candle_core::Device;

use crate::convert::core;
use crate::errors::{guard, invalid};
use lgpo_core::comm::{Communicator, ProcessWorld, ReduceOp};

static WORLD: Mutex<Option<ProcessWorld>> = Mutex::new(None);

/// This process's place in its job.
#[napi(object)]
pub struct WorldInfo {
    pub rank: u32,
    pub size: u32,
    /// `single` or `mpi`.
    pub backend: String,
}

fn info(comm: &dyn Communicator, backend: &str) -> WorldInfo {
    WorldInfo { rank: comm.rank() as u32, size: comm.size() as u32, backend: backend.to_string() }
}

/// The communicator a policy on `device` trains with once the world is set up (NCCL for a GPU
/// when built so), else none (one process).
pub fn communicator_for(device: &Device) -> Result<Option<Arc<dyn Communicator>>> {
    let world = WORLD.lock().map_err(|_| invalid("the distributed world's lock is poisoned"))?;
    world.as_ref().map(|w| core(w.communicator_for(device))).transpose()
}

fn world_comm() -> Result<Arc<dyn Communicator>> {
    let world = WORLD.lock().map_err(|_| invalid("the distributed world's lock is poisoned"))?;
    world
        .as_ref()
        .map(ProcessWorld::communicator)
        .ok_or_else(|| invalid("the distributed world is not set up: call initDistributed() first"))
}

/// Whether this addon was built with the `mpi` feature (able to join an MPI job).
#[napi(js_name = "mpiBuilt")]
pub fn mpi_built() -> bool {
    cfg!(feature = "mpi")
}

/// Sets up the world (MPI when a launcher started this process; see lgpo_core::comm::ProcessWorld)
/// and says this process's rank; later calls return the same. Policies loaded afterwards train
/// with it.
#[napi(js_name = "initDistributed")]
pub fn init_distributed() -> Result<WorldInfo> {
    guard(|| {
        let mut world = WORLD.lock().map_err(|_| invalid("the distributed world's lock is poisoned"))?;
        if world.is_none() {
            *world = Some(core(ProcessWorld::init())?);
        }
        let w = world.as_ref().expect("set above");
        Ok(info(w.communicator().as_ref(), w.backend()))
    })
}

/// Finalises MPI (a rank must before it exits); a no-op for one process or when not set up.
#[napi(js_name = "finalizeDistributed")]
pub fn finalize_distributed() -> Result<()> {
    guard(|| {
        let world = WORLD.lock().map_err(|_| invalid("the distributed world's lock is poisoned"))?.take();
        drop(world);
        Ok(())
    })
}

/// Ends every rank of the job with exit status `code`: for a rank that waited too long on the
/// others. Returns only when the world is not set up.
#[napi(js_name = "abortDistributed")]
pub fn abort_distributed(code: i32) -> Result<()> {
    world_comm()?.abort(code)
}

fn reduce_op(op: &str) -> Result<ReduceOp> {
    match op {
        "sum" => Ok(ReduceOp::Sum),
        "min" => Ok(ReduceOp::Min),
        "max" => Ok(ReduceOp::Max),
        other => Err(invalid(format!("op must be sum, min or max, got {other:?}"))),
    }
}

pub struct AllReduceTask {
    comm: Arc<dyn Communicator>,
    values: Vec<f64>,
    op: ReduceOp,
}

impl Task for AllReduceTask {
    type Output = Vec<f64>;
    type JsValue = Vec<f64>;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            let mut values = std::mem::take(&mut self.values);
            core(self.comm.all_reduce_f64(&mut values, self.op))?;
            Ok(values)
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Element-wise `op` (`sum`, `min`, `max`) of `values` over the ranks; every rank must call it
/// with as many values, in the same order relative to the other collectives.
#[napi(js_name = "allReduce", ts_return_type = "Promise<number[]>")]
pub fn all_reduce(values: Vec<f64>, op: String) -> Result<AsyncTask<AllReduceTask>> {
    Ok(AsyncTask::new(AllReduceTask { comm: world_comm()?, values, op: reduce_op(&op)? }))
}

pub struct BroadcastTask {
    comm: Arc<dyn Communicator>,
    text: String,
    root: usize,
}

impl Task for BroadcastTask {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<Self::Output> {
        guard(|| {
            let mut bytes = std::mem::take(&mut self.text).into_bytes();
            core(self.comm.broadcast(&mut bytes, self.root))?;
            String::from_utf8(bytes).map_err(|e| invalid(format!("broadcast: not UTF-8 text: {e}")))
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(output)
    }
}

/// Rank `root`'s `text` on every rank (the others' arguments are ignored).
#[napi(js_name = "broadcastText", ts_return_type = "Promise<string>")]
pub fn broadcast_text(text: String, root: u32) -> Result<AsyncTask<BroadcastTask>> {
    Ok(AsyncTask::new(BroadcastTask { comm: world_comm()?, text, root: root as usize }))
}
