//! Build script of lgpo-core. With the `cuda` feature it compiles the CUDA kernels
//! (`src/cuda/*.cu`) to PTX for `CUDA_COMPUTE_CAP` (90: H100/H200) and writes their constants to
//! `$OUT_DIR/ptx.rs`; without it (the default CPU build) it does nothing.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "cuda")]
    compile_cuda_kernels();
}

#[cfg(feature = "cuda")]
fn compile_cuda_kernels() {
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let ptx = cudaforge::KernelBuilder::new()
        .source_dir("src/cuda")
        .watch(["src/cuda/common.cuh"])
        .arg("-std=c++17")
        .arg("-O3")
        .build_ptx()
        .unwrap_or_else(|e| {
            panic!(
                "compiling lgpo-core's CUDA kernels failed: {e}\n\
                 (nvcc must be on PATH and CUDA_COMPUTE_CAP set on a machine without a GPU: run \
                 scripts/gpu/setup-toolkit.sh and source .cuda/env.sh; see docs/gpu.md)"
            )
        });
    ptx.write(out_dir.join("ptx.rs")).expect("writing ptx.rs");
}
