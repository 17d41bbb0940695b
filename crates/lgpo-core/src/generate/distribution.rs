//! softmax(logits / T) of one row in a single pass over the vocabulary.
//!
//! The row is cut into blocks of [`BLOCK`] logits. Per block, one vectorised loop finds the max m_b
//! and a second one (over the same 4 KB, still in L1) sums e = exp((l − m_b)/T) and e·(l − m_b)/T
//! in f32 lanes. The blocks are then merged in f64 relative to the row max M (as in
//! `ops::fused_logprob`), which gives the log-normaliser and the entropy:
//!   z = (l − M)/T,  S = Σ e^z,  log p(i) = z_i − ln S,  H = ln S − Σ e^z z / S.
//! Each block also keeps its mass relative to M, so a draw walks the block masses and then only one
//! block of logits (a partial pass), recomputing exactly the e-values that were summed.

use crate::ops::cpu::{exp_f32, lane_max};

/// Logits per block: 4 KB of f32, so the block's second loop reads L1.
pub(crate) const BLOCK: usize = 1024;
/// Independent partial sums per loop, so the compiler vectorises them.
const LANES: usize = 8;

/// One block's share of the row.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Block {
    /// Largest logit of the block (−∞ when all are).
    max: f32,
    /// Σ e and Σ e·z' on the block's own scale (z' = (l − m_b)/T).
    own_sum: f32,
    own_shifted: f32,
    /// e^((m_b − M)/T): converts the block's own e-values to the row's scale.
    scale: f64,
    /// Σ e^z over the block, on the row's scale.
    mass: f64,
}

/// A row whose logits contain NaN or +∞, or only −∞: no distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonFinite;

/// softmax(logits · inv_t) of one row, from one pass over it.
#[derive(Debug)]
pub(crate) struct Distribution<'a> {
    logits: &'a [f32],
    inv_t: f32,
    /// M, the largest logit.
    max: f32,
    /// S = Σ e^z.
    sum: f64,
    /// ln S.
    log_sum: f64,
    /// Entropy in nats.
    entropy: f64,
    blocks: &'a [Block],
}

impl<'a> Distribution<'a> {
    /// Scans `logits` at inverse temperature `inv_t` (> 0), using `blocks` as scratch. Logits of
    /// −∞ have probability zero; NaN, +∞ or a row of only −∞ is [`NonFinite`].
    pub(crate) fn new(logits: &'a [f32], inv_t: f32, blocks: &'a mut Vec<Block>) -> Result<Self, NonFinite> {
        scan_blocks(logits, inv_t, blocks)?;
        let max = blocks.iter().fold(f32::NEG_INFINITY, |m, b| if b.max > m { b.max } else { m });
        let (mut sum, mut shifted) = (0f64, 0f64);
        for block in blocks.iter_mut().filter(|b| b.own_sum != 0.0) {
            // Σ e^z z over the block = scale · (Σ e z' + δ Σ e), with z = z' + δ, δ = (m_b − M)/T.
            let delta = (block.max as f64 - max as f64) * inv_t as f64;
            block.scale = delta.exp();
            block.mass = block.own_sum as f64 * block.scale;
            sum += block.mass;
            shifted += (block.own_shifted as f64 + delta * block.own_sum as f64) * block.scale;
        }
        if !(sum.is_finite() && sum > 0.0 && shifted.is_finite()) {
            return Err(NonFinite);
        }
        let log_sum = sum.ln();
        Ok(Distribution { logits, inv_t, max, sum, log_sum, entropy: log_sum - shifted / sum, blocks })
    }

    /// The row's logits.
    pub(crate) fn logits(&self) -> &'a [f32] {
        self.logits
    }

    /// Entropy of the distribution, in nats.
    pub(crate) fn entropy(&self) -> f64 {
        self.entropy
    }

    /// z_i = (l_i − M)/T in f64.
    pub(crate) fn scaled(&self, id: usize) -> f64 {
        (self.logits[id] as f64 - self.max as f64) * self.inv_t as f64
    }

    /// e^(z_i) in f32, the weight a truncation compares and sums.
    pub(crate) fn weight(&self, logit: f32) -> f32 {
        exp_f32((logit - self.max) * self.inv_t)
    }

    /// log p(i).
    pub(crate) fn logprob(&self, id: usize) -> f64 {
        self.scaled(id) - self.log_sum
    }

    /// The first id of the largest logit.
    pub(crate) fn argmax(&self) -> usize {
        let b = self.blocks.iter().position(|b| b.max == self.max).expect("the max lies in some block");
        let start = b * BLOCK;
        start + self.logits[start..].iter().position(|&l| l == self.max).expect("the block holds its max")
    }

    /// The id whose cumulative probability (ids in increasing order) first exceeds `u` ∈ [0, 1).
    pub(crate) fn sample(&self, u: f64) -> usize {
        let mut rest = u * self.sum;
        for (b, block) in self.blocks.iter().enumerate() {
            if rest < block.mass {
                return b * BLOCK + self.draw_in_block(b, rest / block.scale);
            }
            rest -= block.mass;
        }
        // Rounding left `rest` past the last mass: take the last id of non-zero probability.
        let b = self.blocks.iter().rposition(|b| b.mass > 0.0).expect("some block has mass");
        b * BLOCK + self.draw_in_block(b, f64::INFINITY)
    }

    /// The first position of block `b` where Σ e (its own scale) exceeds `target`, else its last
    /// position of non-zero weight.
    fn draw_in_block(&self, b: usize, target: f64) -> usize {
        let chunk = &self.logits[b * BLOCK..((b + 1) * BLOCK).min(self.logits.len())];
        let max = self.blocks[b].max;
        let mut cumulative = 0f64;
        let mut last = 0;
        for (j, &l) in chunk.iter().enumerate() {
            let e = exp_f32(shifted_logit(l, max, self.inv_t));
            if e > 0.0 {
                cumulative += e as f64;
                last = j;
                if target < cumulative {
                    return j;
                }
            }
        }
        last
    }
}

/// Fills `blocks` with each block's max and own sums: the pass over the whole row. Runs an AVX2
/// build of the same code where the CPU has it; the arithmetic is the same operation for
/// operation (Rust never fuses a multiply and an add), so the results are identical.
fn scan_blocks(logits: &[f32], inv_t: f32, blocks: &mut Vec<Block>) -> Result<(), NonFinite> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { scan_blocks_avx2(logits, inv_t, blocks) };
    }
    scan_blocks_portable(logits, inv_t, blocks)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_blocks_avx2(logits: &[f32], inv_t: f32, blocks: &mut Vec<Block>) -> Result<(), NonFinite> {
    scan_blocks_portable(logits, inv_t, blocks)
}

#[inline(always)]
fn scan_blocks_portable(logits: &[f32], inv_t: f32, blocks: &mut Vec<Block>) -> Result<(), NonFinite> {
    blocks.clear();
    for chunk in logits.chunks(BLOCK) {
        let max = lane_max(chunk);
        let (own_sum, own_shifted) = if max == f32::NEG_INFINITY {
            if chunk.iter().any(|l| l.is_nan()) {
                return Err(NonFinite);
            }
            (0.0, 0.0)
        } else {
            exp_sums(chunk, max, inv_t)
        };
        blocks.push(Block { max, own_sum, own_shifted, ..Block::default() });
    }
    Ok(())
}

/// z = (l − max)·inv_t, floored where e^z is 0 anyway so that e·z is 0, not 0·(−∞) = NaN, for
/// l = −∞ (NaN stays NaN).
#[inline(always)]
fn shifted_logit(l: f32, max: f32, inv_t: f32) -> f32 {
    let z = (l - max) * inv_t;
    if z < -104.0 {
        -104.0
    } else {
        z
    }
}

/// (Σ e, Σ e·z) with z = (l − max)·inv_t and e = e^z, in f32 lanes.
#[inline(always)]
fn exp_sums(chunk: &[f32], max: f32, inv_t: f32) -> (f32, f32) {
    let (mut sum, mut shifted) = ([0f32; LANES], [0f32; LANES]);
    let tiles = chunk.chunks_exact(LANES);
    for (lane, &l) in tiles.remainder().iter().enumerate() {
        let z = shifted_logit(l, max, inv_t);
        let e = exp_f32(z);
        sum[lane] += e;
        shifted[lane] += e * z;
    }
    for tile in tiles {
        for lane in 0..LANES {
            let z = shifted_logit(tile[lane], max, inv_t);
            let e = exp_f32(z);
            sum[lane] += e;
            shifted[lane] += e * z;
        }
    }
    (sum.iter().sum(), shifted.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn random_logits(n: usize, scale: f64, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| (rng.next_normal() * scale) as f32).collect()
    }

    /// log-probs and entropy computed directly in f64 from the definition.
    fn direct(logits: &[f32], t: f64) -> (Vec<f64>, f64) {
        let z: Vec<f64> = logits.iter().map(|&l| l as f64 / t).collect();
        let m = z.iter().cloned().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let lp: Vec<f64> = z.iter().map(|v| v - lse).collect();
        let h = -lp.iter().filter(|v| v.is_finite()).map(|v| v.exp() * v).sum::<f64>();
        (lp, h)
    }

    #[test]
    fn logprobs_and_entropy_match_the_definition_across_blocks() {
        for (n, scale, t) in [(3, 1.0, 1.0), (BLOCK, 3.0, 0.7), (5 * BLOCK + 17, 8.0, 1.0), (151_936, 2.0, 1.3)] {
            let logits = random_logits(n, scale, n as u64);
            let mut blocks = Vec::new();
            let d = Distribution::new(&logits, (1.0 / t) as f32, &mut blocks).unwrap();
            let (lp, h) = direct(&logits, t);
            for i in [0, n / 2, n - 1] {
                assert!((d.logprob(i) - lp[i]).abs() < 1e-5, "n {n}: log p({i}) {} vs {}", d.logprob(i), lp[i]);
            }
            assert!((d.entropy() - h).abs() < 1e-5 * h.max(1.0), "n {n}: entropy {} vs {h}", d.entropy());
            let argmax = (0..n).fold(0, |a, i| if logits[i] > logits[a] { i } else { a });
            assert_eq!(d.argmax(), argmax);
        }
    }

    #[test]
    fn negative_infinity_has_no_mass_and_nan_is_refused() {
        let mut logits = random_logits(3 * BLOCK, 1.0, 4);
        logits[..BLOCK].fill(f32::NEG_INFINITY); // a whole block masked
        logits[BLOCK + 5] = f32::NEG_INFINITY;
        let mut blocks = Vec::new();
        let d = Distribution::new(&logits, 1.0, &mut blocks).unwrap();
        let (lp, h) = direct(&logits, 1.0);
        assert_eq!(d.logprob(0), f64::NEG_INFINITY);
        assert!((d.logprob(2 * BLOCK) - lp[2 * BLOCK]).abs() < 1e-6 && (d.entropy() - h).abs() < 1e-6);
        for u in [0.0, 0.3, 0.999_999_999] {
            let id = d.sample(u);
            assert!(id >= BLOCK && id != BLOCK + 5, "drew masked id {id}");
        }
        for bad in [f32::NAN, f32::INFINITY] {
            for at in [0, 7, BLOCK + 3] {
                let mut row = logits.clone();
                row[at] = bad;
                assert_eq!(Distribution::new(&row, 1.0, &mut blocks).unwrap_err(), NonFinite, "{bad} at {at}");
            }
        }
        assert!(Distribution::new(&[f32::NEG_INFINITY; 9], 1.0, &mut blocks).is_err());
    }

    #[test]
    fn sample_inverts_the_cumulative_distribution() {
        let logits = random_logits(3 * BLOCK + 100, 2.0, 9);
        let mut blocks = Vec::new();
        let d = Distribution::new(&logits, 1.0, &mut blocks).unwrap();
        let p: Vec<f64> = (0..logits.len()).map(|i| d.logprob(i).exp()).collect();
        for u in [0.0, 0.1, 0.5, 0.77, 0.999] {
            let id = d.sample(u);
            let below: f64 = p[..id].iter().sum();
            assert!(
                below <= u + 1e-9 && u < below + p[id] + 1e-9,
                "u {u}: id {id} covers [{below}, {})",
                below + p[id]
            );
        }
    }
}
