//! Matrix products through cuBLAS with f32 output and f32 accumulation whatever the input type
//! (`cublasGemmEx`, compute type 32F): the logits tiles of the fused log-prob op must be f32 even
//! for bf16 weights, which candle's matmul (output in the input type) does not give.

use candle_core::cuda_backend::cudarc::cublas::result::gemm_ex;
use candle_core::cuda_backend::cudarc::cublas::sys::{
    cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType,
};
use candle_core::cuda_backend::cudarc::driver::{CudaView, CudaViewMut, DevicePtr, DevicePtrMut};
use candle_core::cuda_backend::WrapErr;
use candle_core::CudaDevice;

use super::{check_len, int, Element};

/// How an operand stored row-major enters the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// As stored.
    N,
    /// Transposed.
    T,
}

impl Op {
    fn cublas(self) -> cublasOperation_t {
        match self {
            Op::N => cublasOperation_t::CUBLAS_OP_N,
            Op::T => cublasOperation_t::CUBLAS_OP_T,
        }
    }
}

/// `c` (m × n, row-major f32) = op(a) (m × k) · op(b) (k × n) + beta · c, every matrix
/// contiguous and row-major as stored.
///
/// cuBLAS is column-major, and a row-major matrix is its column-major transpose, so the call
/// computes cᵀ = op(b)ᵀ · op(a)ᵀ: the operands swap places and each keeps its own op. The leading
/// dimension of a stored matrix is its number of stored columns.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<A: Element>(
    dev: &CudaDevice,
    c: &mut CudaViewMut<'_, f32>,
    (m, n, k): (usize, usize, usize),
    a: &CudaView<'_, A>,
    a_op: Op,
    b: &CudaView<'_, A>,
    b_op: Op,
    beta: f32,
) -> candle_core::Result<()> {
    check_len(a, m * k, "matmul lhs")?;
    check_len(b, k * n, "matmul rhs")?;
    check_len(c, m * n, "matmul output")?;
    let lda = if a_op == Op::N { k } else { m };
    let ldb = if b_op == Op::N { n } else { k };
    let (m_, n_, k_) = (int(n, "matmul n")?, int(m, "matmul m")?, int(k, "matmul k")?);
    let (lda, ldb, ldc) = (int(lda, "matmul lda")?, int(ldb, "matmul ldb")?, int(n, "matmul ldc")?);
    let alpha = 1.0f32;
    let blas = dev.cublas_handle();
    let stream = dev.cuda_stream();
    let (a_ptr, _a_guard) = a.device_ptr(&stream);
    let (b_ptr, _b_guard) = b.device_ptr(&stream);
    let (c_ptr, _c_guard) = c.device_ptr_mut(&stream);
    // SAFETY: the three pointers are live device allocations of the checked sizes on the
    // stream the cuBLAS handle uses (the guards keep them alive and ordered until the call has
    // been enqueued); alpha and beta are host f32 values, as compute type 32F requires.
    unsafe {
        gemm_ex(
            *blas.handle(),
            b_op.cublas(),
            a_op.cublas(),
            m_,
            n_,
            k_,
            &alpha as *const f32 as *const _,
            b_ptr as *const _,
            A::BLAS,
            ldb,
            a_ptr as *const _,
            A::BLAS,
            lda,
            &beta as *const f32 as *const _,
            c_ptr as *mut _,
            cudaDataType::CUDA_R_32F,
            ldc,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
            cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
        )
        .w()
    }
}
