//! # lgpo-gpu
//!
//! GPU checks and benchmarks of lgpo-core as one standalone binary: built with
//! `--features cuda` (scripts/gpu/build.sh), copied to a GPU machine with the repository's
//! fixtures and run by `scripts/gpu/check.sh`. Without the feature the same code runs on the CPU
//! (a dry run of the plumbing, and this crate's tests).
//!
//! - [`checks`]: correctness on a device against the CPU (kernels, optimizer, fixture models).
//! - [`bench`]: training-step and generation speed at a full model shape, MFU, LGPO / GRPO.
//! - [`memory`]: peak memory of a training step with and without activation checkpointing.
//! - [`summary`]: the lgpo / PyTorch table and the targets.
//! - [`nccl_check`]: the data-parallel all-reduce through NCCL (feature `nccl`).
//! - [`shapes`], [`device_info`], [`report`]: model shapes and FLOPs, device properties, results.

pub mod bench;
pub mod checks;
pub mod device_info;
pub mod memory;
pub mod nccl_check;
pub mod report;
pub mod shapes;
pub mod summary;
