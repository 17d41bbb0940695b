// The per-row reductions of the fused log-prob op (crate::ops::fused_logprob) on CUDA. The host
// code computes logits tiles (rows × width, f32) with cuBLAS; these kernels fold each tile into a
// per-row online log-sum-exp state and, in the backward, turn a recomputed tile into dL/dlogits.
//
// State of a row over the logits seen so far (as in the CPU kernel): m, the largest logit;
// s = Σ e^(l − m); w = Σ e^(l − m) (l − m); and the target's logit. Then
//   lse = m + ln s,   log p(target) = l_target − lse,   H = ln s − w / s.
// s = 0 marks an empty state (a non-empty one has s ≥ 1: its largest element contributes 1).
#include "common.cuh"

struct Lse {
  float max, sum, shifted;
};

// The state over the union of two sets of logits.
__device__ __forceinline__ Lse lse_merge(Lse a, Lse b) {
  if (b.sum == 0.0f) return a;
  if (a.sum == 0.0f) return b;
  const float m = fmaxf(a.max, b.max);
  const float da = a.max - m, db = b.max - m;
  const float ca = expf(da), cb = expf(db);
  // Σ e^(l − M) (l − M) over one part = e^(m − M) (w + (m − M) s).
  return {m, a.sum * ca + b.sum * cb, (a.shifted + da * a.sum) * ca + (b.shifted + db * b.sum) * cb};
}

// The state after one more logit.
__device__ __forceinline__ Lse lse_push(Lse s, float l) {
  if (s.sum == 0.0f) return {l, 1.0f, 0.0f};
  if (l <= s.max) {
    const float x = l - s.max, e = expf(x);
    return {s.max, s.sum + e, s.shifted + e * x};
  }
  const float delta = s.max - l, c = expf(delta);
  return {l, s.sum * c + 1.0f, (s.shifted + delta * s.sum) * c};
}

__device__ __forceinline__ Lse warp_merge(Lse s) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    Lse other = {__shfl_xor_sync(0xffffffffu, s.max, offset), __shfl_xor_sync(0xffffffffu, s.sum, offset),
                 __shfl_xor_sync(0xffffffffu, s.shifted, offset)};
    s = lse_merge(s, other);
  }
  return s;
}

// The merged state of the block, valid in thread 0. blockDim.x is a multiple of 32.
__device__ __forceinline__ Lse block_merge(Lse s) {
  __shared__ Lse partial[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  s = warp_merge(s);
  if (lane == 0) partial[warp] = s;
  __syncthreads();
  if (warp == 0) {
    Lse w = lane < warps ? partial[lane] : Lse{0.0f, 0.0f, 0.0f};
    s = warp_merge(w);
  }
  return s;
}

// Folds a tile of logits (rows × width, f32, row-major; columns are vocabulary ids start ..
// start + width) into `state` (rows × 4: m, s, w, target logit), one block per row.
extern "C" __global__ void logprob_tile_stats(const float* tile, int width, int start, const uint32_t* targets,
                                              float* state) {
  const size_t row = blockIdx.x;
  const float* logits = tile + row * width;
  Lse s = {0.0f, 0.0f, 0.0f};
  for (int j = threadIdx.x; j < width; j += blockDim.x) s = lse_push(s, logits[j]);
  s = block_merge(s);
  if (threadIdx.x == 0) {
    float* st = state + row * 4;
    const Lse merged = lse_merge(Lse{st[0], st[1], st[2]}, s);
    st[0] = merged.max;
    st[1] = merged.sum;
    st[2] = merged.shifted;
    const long column = (long)targets[row] - start;
    if (column >= 0 && column < width) st[3] = logits[column];
  }
}

// out (rows × 3) = [log p(target), entropy, lse] from the final states.
extern "C" __global__ void logprob_finish(const float* state, float* out, int rows) {
  const int row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  const float* st = state + (size_t)row * 4;
  const float ln_sum = logf(st[1]);
  const float lse = st[0] + ln_sum;
  out[(size_t)row * 3 + 0] = st[3] - lse;
  out[(size_t)row * 3 + 1] = ln_sum - st[2] / st[1];
  out[(size_t)row * 3 + 2] = lse;
}

// dL/dl = g (onehot(target) − e^(l − lse)) for a tile of recomputed logits, written in the
// inputs' type for the two cuBLAS products that follow. Grid: (column blocks, rows).
template <typename T>
__device__ void tile_grad(const float* tile, int width, int start, const uint32_t* targets, const float* lse,
                          const float* g, T* dl) {
  const size_t row = blockIdx.y;
  const int column = blockIdx.x * blockDim.x + threadIdx.x;
  if (column >= width) return;
  const size_t i = row * width + column;
  float v = -g[row] * expf(tile[i] - lse[row]);
  if ((long)targets[row] - start == column) v += g[row];
  dl[i] = from_f32<T>(v);
}

#define TILE_GRAD(NAME, T)                                                                              \
  extern "C" __global__ void logprob_tile_grad_##NAME(const float* tile, int width, int start,         \
                                                      const uint32_t* targets, const float* lse,       \
                                                      const float* g, T* dl) {                         \
    tile_grad<T>(tile, width, start, targets, lse, g, dl);                                             \
  }

TILE_GRAD(f32, float)
TILE_GRAD(bf16, __nv_bfloat16)
TILE_GRAD(f16, __half)
