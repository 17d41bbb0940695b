//! Launchers of `fused_logprob.cu`: the forward and the backward of the fused log-prob op on
//! CUDA, tile by tile. A logits tile (rows × width, f32) is one cuBLAS product of a block of
//! hidden rows with a tile of head rows ([`super::blas::matmul`], f32 accumulation); the kernels
//! fold it into each row's online log-sum-exp (forward) or turn it into dL/dlogits (backward),
//! which two more products take to dL/dh and dL/dW. Extra memory: one logits tile, one dL/dl
//! tile and the per-row states, never the (N, V) logits.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{CudaSlice, CudaView, LaunchConfig, PushKernelArg};
use candle_core::cuda_backend::WrapErr;
use candle_core::{CudaDevice, CudaStorage, Layout};

use super::blas::{matmul, Op};
use super::{dispatch_element, elementwise, int, kernel, per_row, view, Element, Module, THREADS};

/// Rows per block of hidden states and head rows per tile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tiles {
    pub tokens: usize,
    pub vocab: usize,
}

/// The inputs: hidden (N, d), head (V, d) of one element type, targets (N) u32.
pub(crate) struct Inputs<'a> {
    pub hidden: (&'a CudaStorage, &'a Layout),
    pub head: (&'a CudaStorage, &'a Layout),
    pub targets: (&'a CudaStorage, &'a Layout),
}

impl Inputs<'_> {
    /// (N, d, V).
    fn dims(&self) -> candle_core::Result<(usize, usize, usize)> {
        let (n, d) = self.hidden.1.shape().dims2()?;
        let (v, _) = self.head.1.shape().dims2()?;
        Ok((n, d, v))
    }
}

/// Forward: f32 (N, 3) rows of [log p(target), entropy, lse].
pub(crate) fn forward(inputs: &Inputs, tiles: Tiles) -> candle_core::Result<CudaStorage> {
    const OP: &str = "lgpo-fused-logprob";
    let dev = inputs.hidden.0.device();
    let (n, d, v) = inputs.dims()?;
    let targets = view::<u32>(inputs.targets.0, inputs.targets.1, OP)?;
    dispatch_element!(inputs.hidden.0.dtype(), OP, |T| {
        let h = view::<T>(inputs.hidden.0, inputs.hidden.1, OP)?;
        let w = view::<T>(inputs.head.0, inputs.head.1, OP)?;
        let out = forward_typed::<T>(dev, (&h, &w, &targets), (n, d, v), tiles)?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
    })
}

fn forward_typed<T: Element>(
    dev: &CudaDevice,
    (h, w, targets): (&CudaView<T>, &CudaView<T>, &CudaView<u32>),
    (n, d, v): (usize, usize, usize),
    tiles: Tiles,
) -> candle_core::Result<CudaSlice<f32>> {
    let stream = dev.cuda_stream();
    let tile_stats = kernel(dev, Module::FusedLogprob, "logprob_tile_stats")?;
    let finish = kernel(dev, Module::FusedLogprob, "logprob_finish")?;
    // SAFETY: each product writes the part of the tile the kernel then reads.
    let mut tile = unsafe { dev.alloc::<f32>(tiles.tokens.min(n) * tiles.vocab.min(v))? };
    let mut state = dev.alloc_zeros::<f32>(n * 4)?; // zero = empty (s = 0)
    for first in (0..n).step_by(tiles.tokens) {
        let rows = tiles.tokens.min(n - first);
        let h_block = h.slice(first * d..(first + rows) * d);
        let block_targets = targets.slice(first..first + rows);
        let mut block_state = state.slice_mut(first * 4..(first + rows) * 4);
        for start in (0..v).step_by(tiles.vocab) {
            let width = tiles.vocab.min(v - start);
            let w_tile = w.slice(start * d..(start + width) * d);
            matmul(dev, &mut tile.slice_mut(..rows * width), (rows, width, d), &h_block, Op::N, &w_tile, Op::T, 0.0)?;
            let logits = tile.slice(..rows * width);
            let (width_arg, start_arg) = (int(width, "vocabulary tile")?, int(start, "vocabulary offset")?);
            let mut args = stream.launch_builder(&tile_stats);
            args.arg(&logits).arg(&width_arg).arg(&start_arg).arg(&block_targets).arg(&mut block_state);
            // SAFETY: the argument list matches the kernel's signature; one block per tile row.
            unsafe { args.launch(per_row(rows)?) }.w()?;
        }
    }
    // SAFETY: the kernel writes the three values of every row.
    let mut out = unsafe { dev.alloc::<f32>(n * 3)? };
    let rows_arg = int(n, "rows")?;
    let mut args = stream.launch_builder(&finish);
    args.arg(&state).arg(&mut out).arg(&rows_arg);
    // SAFETY: the argument list matches the kernel's signature; one thread per row.
    unsafe { args.launch(elementwise(n)?) }.w()?;
    Ok(out)
}

/// Backward for the rows given (callers pass only rows with a non-zero gradient): f32
/// (N + V, d) = [dL/dh (N, d); dL/dW (V, d)], given each row's lse (N) and g = dL/dlogp (N),
/// both f32.
pub(crate) fn backward(
    inputs: &Inputs,
    (lse, ll): (&CudaStorage, &Layout),
    (g, gl): (&CudaStorage, &Layout),
    tiles: Tiles,
) -> candle_core::Result<CudaStorage> {
    const OP: &str = "lgpo-fused-logprob-grad";
    let dev = inputs.hidden.0.device();
    let (n, d, v) = inputs.dims()?;
    let targets = view::<u32>(inputs.targets.0, inputs.targets.1, OP)?;
    let (lse, g) = (view::<f32>(lse, ll, OP)?, view::<f32>(g, gl, OP)?);
    dispatch_element!(inputs.hidden.0.dtype(), OP, |T| {
        let h = view::<T>(inputs.hidden.0, inputs.hidden.1, OP)?;
        let w = view::<T>(inputs.head.0, inputs.head.1, OP)?;
        let out = backward_typed::<T>(dev, (&h, &w, &targets, &lse, &g), (n, d, v), tiles)?;
        Ok(CudaStorage::wrap_cuda_slice(out, dev.clone()))
    })
}

type BackwardInputs<'a, 'b, T> =
    (&'a CudaView<'b, T>, &'a CudaView<'b, T>, &'a CudaView<'b, u32>, &'a CudaView<'b, f32>, &'a CudaView<'b, f32>);

fn backward_typed<T: Element>(
    dev: &CudaDevice,
    (h, w, targets, lse, g): BackwardInputs<T>,
    (n, d, v): (usize, usize, usize),
    tiles: Tiles,
) -> candle_core::Result<CudaSlice<f32>> {
    let stream = dev.cuda_stream();
    let tile_grad = kernel(dev, Module::FusedLogprob, &format!("logprob_tile_grad_{}", T::SUFFIX))?;
    let tile_len = tiles.tokens.min(n) * tiles.vocab.min(v);
    // SAFETY: each product writes the part of the tile the kernel then reads, and the kernel
    // writes the part of dl the products then read.
    let mut tile = unsafe { dev.alloc::<f32>(tile_len)? };
    let mut dl = unsafe { dev.alloc::<T>(tile_len)? };
    // Both parts accumulate (dL/dh over vocabulary tiles, dL/dW over blocks of rows).
    let mut out = dev.alloc_zeros::<f32>((n + v) * d)?;
    let (mut dh, mut dw) = out.split_at_mut(n * d);
    for first in (0..n).step_by(tiles.tokens) {
        let rows = tiles.tokens.min(n - first);
        let h_block = h.slice(first * d..(first + rows) * d);
        let block_targets = targets.slice(first..first + rows);
        let (block_lse, block_g) = (lse.slice(first..first + rows), g.slice(first..first + rows));
        let mut dh_block = dh.slice_mut(first * d..(first + rows) * d);
        for start in (0..v).step_by(tiles.vocab) {
            let width = tiles.vocab.min(v - start);
            let w_tile = w.slice(start * d..(start + width) * d);
            matmul(dev, &mut tile.slice_mut(..rows * width), (rows, width, d), &h_block, Op::N, &w_tile, Op::T, 0.0)?;
            {
                let logits = tile.slice(..rows * width);
                let mut dl_tile = dl.slice_mut(..rows * width);
                let (width_arg, start_arg) = (int(width, "vocabulary tile")?, int(start, "vocabulary offset")?);
                let mut args = stream.launch_builder(&tile_grad);
                args.arg(&logits)
                    .arg(&width_arg)
                    .arg(&start_arg)
                    .arg(&block_targets)
                    .arg(&block_lse)
                    .arg(&block_g)
                    .arg(&mut dl_tile);
                let grid = LaunchConfig {
                    grid_dim: (width.div_ceil(THREADS as usize) as u32, int(rows, "rows")? as u32, 1),
                    block_dim: (THREADS, 1, 1),
                    shared_mem_bytes: 0,
                };
                // SAFETY: the argument list matches the kernel's signature; the grid covers the
                // tile (rows up to the block size, far below the 65,535 limit of grid y).
                unsafe { args.launch(grid) }.w()?;
            }
            let dl_tile = dl.slice(..rows * width);
            // dL/dh (rows, d) += dl (rows, width) · W_tile (width, d)
            matmul(dev, &mut dh_block, (rows, d, width), &dl_tile, Op::N, &w_tile, Op::N, 1.0)?;
            // dL/dW_tile (width, d) += dlᵀ (width, rows) · h_block (rows, d)
            let mut dw_tile = dw.slice_mut(start * d..(start + width) * d);
            matmul(dev, &mut dw_tile, (width, d, rows), &dl_tile, Op::T, &h_block, Op::N, 1.0)?;
        }
    }
    Ok(out)
}
