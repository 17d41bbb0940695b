//! The memory allocator of lgpo's binaries (the Node addon, `lgpo-gpu`, the benches and
//! examples): mimalloc, told to keep the memory it frees instead of returning it to the OS.
//!
//! Why: a training step at Qwen2.5's 151,936-row vocabulary allocates and frees tensors of
//! hundreds of MB (the tied head's gradient, logits, activations). glibc maps each allocation
//! over 32 MB with `mmap` and unmaps it on `free`, so every step faults in and zeroes every page
//! again: perf put 49% of a minibatch update of the 2-layer Qwen2.5-0.5B shape in the kernel on 2
//! cores (docs/benchmarks.md has the measurement). Kept memory is reused without faults; the
//! process's resident size stays at its peak, as with PyTorch's caching allocator on a GPU.
//!
//! A binary declares `#[global_allocator] static ALLOC: lgpo_core::allocator::Allocator =
//! lgpo_core::allocator::Allocator;` and calls [`keep_freed_memory`] once at start-up.

pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_purge_delay` (v3's `mi_option_t`; libmimalloc-sys names no constant).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed memory to the OS (purge delay -1), unless the user set
/// `MIMALLOC_PURGE_DELAY`, which mimalloc then reads as usual.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one of mimalloc's global options; valid at any time, allocates nothing.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
    }
}

/// mimalloc's purge delay in milliseconds (-1: never).
pub fn purge_delay() -> i64 {
    // SAFETY: reads one of mimalloc's global options.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) as i64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_freed_memory_disables_purging() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the user's setting wins, by design
        }
        assert_ne!(purge_delay(), -1, "mimalloc's default purges");
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
