//! Where the time of one [`super::generate`] call goes, phase by phase.

use std::time::Instant;

/// Wall-clock seconds per phase of a generation. On CPU every tensor op is synchronous, so each
/// phase is measured exactly; on CUDA kernels run asynchronously and their time shows up in the
/// phase that next reads a result to the host (sampling).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerateTimings {
    /// The prompts' forward through the decoder layers and the LM head of their last position.
    pub prefill: f64,
    /// Copying prefilled cache rows for the samples of each prompt.
    pub replicate: f64,
    /// Decode steps through the decoder layers (matmuls, attention, KV-cache appends).
    pub layers: f64,
    /// Decode steps' LM head: hidden states (B, d) times the head (d, V).
    pub lm_head: f64,
    /// Drawing tokens from the logits (every step, the prefill's logits included).
    pub sampling: f64,
    /// Dropping finished rows from the cache.
    pub compaction: f64,
    /// Decode steps taken (each feeds one token per unfinished row); tokens are drawn once more,
    /// from the prefill's logits.
    pub steps: usize,
}

impl GenerateTimings {
    /// Runs `f`, adding its wall-clock time to the phase that `phase` selects.
    pub(crate) fn time<T>(&mut self, phase: impl FnOnce(&mut Self) -> &mut f64, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        *phase(self) += start.elapsed().as_secs_f64();
        out
    }

    /// Sum of the phases.
    pub fn total(&self) -> f64 {
        self.prefill + self.replicate + self.layers + self.lm_head + self.sampling + self.compaction
    }
}
