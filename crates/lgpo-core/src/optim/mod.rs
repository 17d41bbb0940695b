//! Optimisation: AdamW with f32 master weights and state, global gradient-norm clipping, and
//! learning-rate schedules.

mod adamw;
mod grad_norm;
mod kernels;
mod schedule;

pub use adamw::{AdamW, AdamWConfig};
pub use grad_norm::{clip_factor, clip_grad_norm, global_norm};
pub use schedule::LrSchedule;
