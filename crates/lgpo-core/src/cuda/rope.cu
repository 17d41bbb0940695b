// Rotary position embedding in the "rotate half" layout with per-row angles; one thread per
// rotated pair. x, y: (B, H, T, D) contiguous; cos, sin: (B, T, D/2). The backward is the same
// kernel with −sin (the inverse rotation), as in the CPU op.
#include "common.cuh"

template <typename T>
__device__ void rope_pairs(const T* x, const T* cos, const T* sin, T* y, int h, int t, int d, size_t pairs) {
  const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (idx >= pairs) return;
  const int half = d / 2;
  const size_t i = idx % half;
  const size_t pos = (idx / half) % t;
  const size_t bh = idx / ((size_t)half * t);
  const size_t row = bh / h;
  const size_t angle = (row * t + pos) * half + i;
  const size_t base = (bh * t + pos) * d;
  const float c = to_f32(cos[angle]), s = to_f32(sin[angle]);
  const float x1 = to_f32(x[base + i]), x2 = to_f32(x[base + i + half]);
  y[base + i] = from_f32<T>(x1 * c - x2 * s);
  y[base + i + half] = from_f32<T>(x2 * c + x1 * s);
}

#define ROPE(NAME, T)                                                                                    \
  extern "C" __global__ void rope_##NAME(const T* x, const T* cos, const T* sin, T* y, int h, int t, int d, \
                                         size_t pairs) {                                                 \
    rope_pairs<T>(x, cos, sin, y, h, t, d, pairs);                                                       \
  }

ROPE(f32, float)
ROPE(bf16, __nv_bfloat16)
ROPE(f16, __half)
