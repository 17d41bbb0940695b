//! Top-k and top-p (nucleus) truncation by selection: the kept set is found with partitioning
//! (expected linear time) instead of sorting the vocabulary; only the last small range around
//! the top-p boundary is sorted.

use std::cmp::Ordering;

use super::distribution::Distribution;

/// A token id with its logit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub logit: f32,
    pub id: u32,
}

/// Below this many candidates the top-p search sorts instead of partitioning.
const SORT_BELOW: usize = 64;

fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit)
}

/// Fills `kept` with the ids that survive `top_k` (0: all), then `top_p` (1: all) of the
/// renormalised survivors, as Hugging Face and vLLM apply them. The order of `kept` is
/// unspecified but deterministic.
pub(crate) fn truncate(dist: &Distribution, top_k: usize, top_p: f32, kept: &mut Vec<Candidate>) {
    kept.clear();
    kept.extend(dist.logits().iter().enumerate().map(|(id, &logit)| Candidate { logit, id: id as u32 }));
    if top_k > 0 && top_k < kept.len() {
        kept.select_nth_unstable_by(top_k - 1, by_logit_desc);
        kept.truncate(top_k);
    }
    if top_p < 1.0 {
        let weight = |c: &Candidate| dist.weight(c.logit) as f64;
        let total: f64 = kept.iter().map(weight).sum();
        let len = nucleus_len(kept, weight, top_p as f64 * total);
        kept.truncate(len);
    }
}

/// Reorders `candidates` so that its first `len` entries, the returned length, are the smallest
/// set of largest logits whose weight reaches `target`: a quickselect on the weight.
fn nucleus_len(candidates: &mut [Candidate], weight: impl Fn(&Candidate) -> f64, target: f64) -> usize {
    // Invariant: candidates[..lo] are the lo largest, of weight `above` < target; the boundary
    // lies in lo..hi.
    let (mut lo, mut hi, mut above) = (0, candidates.len(), 0f64);
    while hi - lo > SORT_BELOW {
        let mid = lo + (hi - lo) / 2;
        candidates[lo..hi].select_nth_unstable_by(mid - lo, by_logit_desc);
        let upper: f64 = candidates[lo..mid].iter().map(&weight).sum();
        if above + upper >= target {
            hi = mid;
        } else {
            above += upper + weight(&candidates[mid]);
            if above >= target {
                return mid + 1;
            }
            lo = mid + 1;
        }
    }
    candidates[lo..hi].sort_unstable_by(by_logit_desc);
    for (i, c) in candidates[lo..hi].iter().enumerate() {
        above += weight(c);
        if above >= target {
            return lo + i + 1;
        }
    }
    hi // rounding: the whole range
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::distribution::Block;
    use crate::rng::SplitMix64;

    /// The kept set by sorting the whole vocabulary: the definition.
    fn by_sorting(logits: &[f32], top_k: usize, top_p: f64) -> Vec<u32> {
        let mut ids: Vec<u32> = (0..logits.len() as u32).collect();
        ids.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]));
        if top_k > 0 {
            ids.truncate(top_k);
        }
        if top_p < 1.0 {
            let w: Vec<f64> = ids.iter().map(|&i| (logits[i as usize] as f64).exp()).collect();
            let total: f64 = w.iter().sum();
            let mut mass = 0.0;
            let keep = w.iter().position(|x| {
                mass += x;
                mass >= top_p * total
            });
            ids.truncate(keep.map_or(ids.len(), |k| k + 1));
        }
        ids.sort_unstable();
        ids
    }

    #[test]
    fn selection_keeps_what_sorting_keeps() {
        let mut rng = SplitMix64::new(5);
        // Distinct logits, so the kept set is unique.
        let mut logits: Vec<f32> = (0..20_000).map(|i| i as f32 * 1e-3).collect();
        for i in (1..logits.len()).rev() {
            logits.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let (mut blocks, mut kept) = (Vec::<Block>::new(), Vec::new());
        let dist = Distribution::new(&logits, 1.0, &mut blocks).unwrap();
        for (k, p) in [(0, 0.5), (0, 0.9), (0, 0.999), (50, 1.0), (1, 1.0), (300, 0.3), (20_000, 0.7)] {
            truncate(&dist, k, p, &mut kept);
            let mut ids: Vec<u32> = kept.iter().map(|c| c.id).collect();
            ids.sort_unstable();
            assert_eq!(ids, by_sorting(&logits, k, p as f64), "top_k {k}, top_p {p}");
        }
    }
}
