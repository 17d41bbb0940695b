// The in-place AdamW update on f32 tensors (the CUDA twin of crate::optim::kernels): one pass per
// moment and one for the parameter.
#include <stddef.h>

// m ← β m + (1 − β) g   (or g² when `square`)
extern "C" __global__ void adamw_moment(float* m, const float* g, float beta, int square, size_t n) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float gv = square ? g[i] * g[i] : g[i];
  m[i] = beta * m[i] + (1.0f - beta) * gv;
}

// θ ← θ (1 − lr·wd) − lr · (m / b1) / (sqrt(v / b2) + ε), given 1/b1 and 1/b2.
extern "C" __global__ void adamw_param(float* p, const float* m, const float* v, float lr, float weight_decay,
                                       float inv_b1, float inv_b2, float eps, size_t n) {
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  p[i] = p[i] * (1.0f - lr * weight_decay) - lr * (m[i] * inv_b1) / (sqrtf(v[i] * inv_b2) + eps);
}
