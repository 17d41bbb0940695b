// RMSNorm over the last dimension, forward and backward; one block per row, f32 accumulation.
// The semantics are those of the CPU kernel (crate::ops::rms_norm): y = x r w rounded once, with
// r = (mean(x^2) + eps)^-1/2.
#include "common.cuh"

template <typename T>
__device__ void rms_norm_forward(const T* x, const T* w, T* y, int d, float eps) {
  const size_t row = blockIdx.x;
  const T* xr = x + row * d;
  T* yr = y + row * d;
  float sum_sq = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = to_f32(xr[i]);
    sum_sq += v * v;
  }
  const float r = rsqrtf(block_sum(sum_sq) / d + eps);
  for (int i = threadIdx.x; i < d; i += blockDim.x) yr[i] = from_f32<T>(to_f32(xr[i]) * r * to_f32(w[i]));
}

// With x̂ = x r and g = dL/dy:
//   dL/dx = r (g w − x̂ · mean(g w x̂)),   dL/dw = Σ_rows g x̂.
// Writes dL/dx (rows, d) and each row's term of dL/dw, g x̂ (rows, d), both f32, into `dx` and
// `dw_rows`; the caller sums the latter over rows.
template <typename T>
__device__ void rms_norm_backward(const T* x, const T* w, const T* g, float* dx, float* dw_rows, int d, float eps) {
  const size_t row = blockIdx.x;
  const T* xr = x + row * d;
  const T* gr = g + row * d;
  float sum_sq = 0.0f, gwx = 0.0f;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    const float xv = to_f32(xr[i]);
    sum_sq += xv * xv;
    gwx += to_f32(gr[i]) * to_f32(w[i]) * xv;
  }
  sum_sq = block_sum(sum_sq);
  gwx = block_sum(gwx);
  const float r = rsqrtf(sum_sq / d + eps);
  const float dot = gwx * r / d;  // mean(g w x̂)
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    const float xh = to_f32(xr[i]) * r, gv = to_f32(gr[i]);
    dx[row * d + i] = r * (gv * to_f32(w[i]) - xh * dot);
    dw_rows[row * d + i] = gv * xh;
  }
}

#define RMS_NORM(NAME, T)                                                                          \
  extern "C" __global__ void rms_norm_fwd_##NAME(const T* x, const T* w, T* y, int d, float eps) { \
    rms_norm_forward<T>(x, w, y, d, eps);                                                          \
  }                                                                                                \
  extern "C" __global__ void rms_norm_bwd_##NAME(const T* x, const T* w, const T* g, float* dx,    \
                                                 float* dw_rows, int d, float eps) {               \
    rms_norm_backward<T>(x, w, g, dx, dw_rows, d, eps);                                            \
  }

RMS_NORM(f32, float)
RMS_NORM(bf16, __nv_bfloat16)
RMS_NORM(f16, __half)
