//! Drawing one token from a row of logits: temperature, top-k, top-p (in that order, as in
//! Hugging Face and vLLM), the log-prob of the drawn token under the distribution it was actually
//! drawn from, and the entropy of the tempered distribution before truncation.
//!
//! Cost per draw: one pass over the row ([`Distribution`]: max, then Σ e^z and Σ e^z z per 4 KB
//! block) and a walk over one block to draw. Top-k/top-p add a selection over a reused candidate
//! buffer. Nothing vocabulary-sized is allocated per draw: the buffers live in a [`Scratch`].

use super::distribution::{Block, Distribution, NonFinite};
use super::truncation::{truncate, Candidate};
use super::SamplingParams;
use crate::rng::SplitMix64;

/// A drawn token, its sampling log-prob and the entropy of the distribution it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Draw {
    pub token: u32,
    pub logprob: f32,
    /// Entropy of softmax(logits / T) before top-k/top-p (T = 1 when greedy), in nats.
    pub entropy: f32,
}

/// Buffers reused from draw to draw (one per thread).
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    blocks: Vec<Block>,
    candidates: Vec<Candidate>,
}

/// Draws from `logits` (one row; pass a prefix of the row to mask the ids past it).
///
/// - temperature 0: greedy (the first largest logit); log-prob and entropy are those of the
///   unmodified model distribution. No random number is used.
/// - otherwise: softmax(logits / temperature), restricted to the `top_k` largest and then to the
///   smallest set whose probability reaches `top_p`, renormalised; the log-prob is under this
///   renormalised distribution (at temperature 1 with no truncation, the model's log-prob). One
///   uniform number of `rng` per draw.
///
/// Logits of −∞ have probability zero; NaN or +∞ anywhere is [`NonFinite`].
pub(crate) fn draw(
    logits: &[f32],
    params: &SamplingParams,
    rng: &mut SplitMix64,
    scratch: &mut Scratch,
) -> Result<Draw, NonFinite> {
    let greedy = params.temperature == 0.0;
    // A temperature so small that 1/T overflows is greedy in effect; keep the scale finite.
    let inv_t = if greedy { 1.0 } else { (1.0 / params.temperature).min(f32::MAX) };
    let dist = Distribution::new(logits, inv_t, &mut scratch.blocks)?;
    let entropy = dist.entropy() as f32;
    let truncated = (params.top_k > 0 && params.top_k < logits.len()) || params.top_p < 1.0;
    let (token, logprob) = if greedy {
        let id = dist.argmax();
        (id as u32, dist.logprob(id))
    } else if !truncated {
        let id = dist.sample(rng.next_f64());
        (id as u32, dist.logprob(id))
    } else {
        truncate(&dist, params.top_k, params.top_p, &mut scratch.candidates);
        draw_among(&dist, &scratch.candidates, rng.next_f64())
    };
    Ok(Draw { token, logprob: logprob as f32, entropy })
}

/// Draws from `kept` renormalised: (id, log-prob under the renormalised distribution).
fn draw_among(dist: &Distribution, kept: &[Candidate], u: f64) -> (u32, f64) {
    let total: f64 = kept.iter().map(|c| dist.weight(c.logit) as f64).sum();
    let target = u * total;
    let mut cumulative = 0f64;
    let mut chosen = kept[0].id; // the largest logit: kept whatever the rounding
    for c in kept {
        let w = dist.weight(c.logit) as f64;
        if w > 0.0 {
            cumulative += w;
            chosen = c.id;
            if target < cumulative {
                break;
            }
        }
    }
    (chosen, dist.scaled(chosen as usize) - total.ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32) -> SamplingParams {
        SamplingParams { temperature, top_k, top_p, ..SamplingParams::default() }
    }

    fn draw_once(logits: &[f32], p: &SamplingParams, rng: &mut SplitMix64) -> Draw {
        draw(logits, p, rng, &mut Scratch::default()).unwrap()
    }

    fn frequencies(logits: &[f32], p: &SamplingParams, n: usize) -> Vec<f64> {
        let mut rng = SplitMix64::new(11);
        let mut scratch = Scratch::default();
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[draw(logits, p, &mut rng, &mut scratch).unwrap().token as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn greedy_takes_argmax_with_model_logprob() {
        let logits = [0.0f32, 3.0, 1.0];
        let d = draw_once(&logits, &params(0.0, 0, 1.0), &mut SplitMix64::new(0));
        let lse = (1f64 + 3f64.exp() + 1f64.exp()).ln();
        assert_eq!(d.token, 1);
        assert!((d.logprob as f64 - (3.0 - lse)).abs() < 1e-6);
        let p: Vec<f64> = logits.iter().map(|&l| (l as f64 - lse).exp()).collect();
        let h = -p.iter().map(|p| p * p.ln()).sum::<f64>();
        assert!((d.entropy as f64 - h).abs() < 1e-6, "entropy {} vs {h}", d.entropy);
    }

    #[test]
    fn frequencies_follow_the_tempered_distribution() {
        let logits = [0.0f32, 1.0, 2.0];
        let f = frequencies(&logits, &params(2.0, 0, 1.0), 200_000);
        let z: f64 = logits.iter().map(|&l| (l as f64 / 2.0).exp()).sum();
        for (i, &l) in logits.iter().enumerate() {
            assert!((f[i] - (l as f64 / 2.0).exp() / z).abs() < 0.005, "{f:?}");
        }
    }

    #[test]
    fn top_k_and_top_p_truncate_and_renormalise() {
        let logits = [0.0f32, 1.0, 2.0, 3.0]; // probs ≈ .032 .087 .237 .644
        let f = frequencies(&logits, &params(1.0, 2, 1.0), 50_000);
        assert_eq!((f[0], f[1]), (0.0, 0.0));
        let f = frequencies(&logits, &params(1.0, 0, 0.8), 50_000); // .644 < .8 ≤ .644 + .237
        assert_eq!((f[0], f[1]), (0.0, 0.0));
        assert!(f[2] > 0.2 && f[3] > 0.65, "{f:?}");
        let d = draw_once(&logits, &params(1.0, 0, 0.5), &mut SplitMix64::new(1));
        assert_eq!((d.token, d.logprob), (3, 0.0), "a single kept token has probability one");
        let lp = draw_once(&logits, &params(1.0, 2, 1.0), &mut SplitMix64::new(2));
        let renormalised = logits[lp.token as usize] as f64 - (2f64.exp() + 3f64.exp()).ln();
        assert!((lp.logprob as f64 - renormalised).abs() < 1e-6);
    }

    /// At the size of the Qwen2.5 vocabulary: frequencies of a few heavy ids (the first and last
    /// id among them) and of the tail against their probabilities, and the reported log-probs
    /// against a direct computation. So that 100,000 draws stay fast, the row is scanned (and
    /// truncated) once and the random numbers are inverted through the same cumulative weights
    /// that a draw walks; `draw` itself is checked to take the same token for the same number.
    #[test]
    fn frequencies_at_the_full_qwen25_vocabulary() {
        const VOCAB: usize = 151_936;
        let mut rng = SplitMix64::new(3);
        let mut logits: Vec<f32> = (0..VOCAB).map(|_| rng.next_normal() as f32).collect();
        let heavy = [0usize, 4_097, 77_777, VOCAB - 1];
        for (k, &id) in heavy.iter().enumerate() {
            logits[id] = 11.0 + k as f32 * 0.5;
        }
        let mut scratch = Scratch::default();
        for (temperature, top_k, top_p) in [(1.0, 0, 1.0), (0.8, 0, 1.0), (1.0, 1000, 0.9), (1.2, 0, 0.95)] {
            let p = params(temperature, top_k, top_p);
            // The kept set and its normaliser by sorting, in f64.
            let mut sorted: Vec<f64> = logits.iter().map(|&l| l as f64 / temperature as f64).collect();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let kept_logits = if top_k > 0 { &sorted[..top_k] } else { &sorted[..] };
            let z: f64 = kept_logits.iter().map(|v| v.exp()).sum();
            let mut cumulative = 0.0;
            let nucleus = kept_logits.iter().position(|v| {
                cumulative += v.exp() / z;
                cumulative >= top_p as f64
            });
            let kept_z: f64 = kept_logits[..nucleus.map_or(kept_logits.len(), |n| n + 1)].iter().map(|v| v.exp()).sum();
            let prob = |id: usize| (logits[id] as f64 / temperature as f64).exp() / kept_z;

            let mut blocks = Vec::new();
            let dist = Distribution::new(&logits, 1.0 / temperature, &mut blocks).unwrap();
            let mut kept = Vec::new();
            truncate(&dist, top_k, top_p, &mut kept);
            let truncated = top_k > 0 || top_p < 1.0;
            // draw_among's walk over `kept`, as a binary search over its cumulative weights.
            let cumulative: Vec<f64> = kept
                .iter()
                .scan(0f64, |acc, c| {
                    *acc += dist.weight(c.logit) as f64;
                    Some(*acc)
                })
                .collect();
            let total = *cumulative.last().unwrap();
            let pick = |u: f64| {
                if truncated {
                    let i = cumulative.partition_point(|&c| c <= u * total).min(kept.len() - 1);
                    kept[i].id as usize
                } else {
                    dist.sample(u)
                }
            };
            let n = 100_000;
            let mut counts = vec![0usize; VOCAB];
            let mut rng = SplitMix64::new(11);
            for _ in 0..n {
                counts[pick(rng.next_f64())] += 1;
            }
            let f = |id: usize| counts[id] as f64 / n as f64;
            let close = |got: f64, want: f64, what: &str| {
                let sd = (want * (1.0 - want) / n as f64).sqrt();
                assert!(
                    (got - want).abs() < 5.0 * sd + 1e-4,
                    "T {temperature} k {top_k} p {top_p}: {what}: {got} vs {want}"
                );
            };
            for &id in &heavy {
                close(f(id), prob(id), &format!("id {id}"));
            }
            let tail = |g: &dyn Fn(usize) -> f64| 1.0 - heavy.iter().map(|&id| g(id)).sum::<f64>();
            close(tail(&f), tail(&prob), "the tail");

            let mut rng = SplitMix64::new(8);
            for _ in 0..10 {
                let u = rng.clone().next_f64();
                let d = draw(&logits, &p, &mut rng, &mut scratch).unwrap();
                assert_eq!(d.token as usize, pick(u));
                let want = prob(d.token as usize).ln();
                assert!((d.logprob as f64 - want).abs() < 1e-4, "log-prob {} vs {want}", d.logprob);
            }
        }
    }

    #[test]
    fn entropy_is_that_of_the_tempered_distribution_before_truncation() {
        let logits = [0.5f32, -1.0, 2.0, 0.0, 1.5];
        for (t, k, p) in [(1.0, 0, 1.0), (0.5, 0, 1.0), (2.0, 2, 0.7)] {
            let d = draw_once(&logits, &params(t, k, p), &mut SplitMix64::new(4));
            let z: Vec<f64> = logits.iter().map(|&l| l as f64 / t as f64).collect();
            let lse = z.iter().map(|v| v.exp()).sum::<f64>().ln();
            let h = -z.iter().map(|v| (v - lse).exp() * (v - lse)).sum::<f64>();
            assert!((d.entropy as f64 - h).abs() < 1e-6, "T {t}: entropy {} vs {h}", d.entropy);
        }
    }

    #[test]
    fn a_prefix_masks_the_ids_past_it() {
        // Over the whole row id 3 dominates; over the prefix it can never be drawn.
        let logits = [0.0f32, 0.5, 1.0, 50.0];
        let f = frequencies(&logits[..3], &params(1.0, 0, 1.0), 20_000);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|&x| x > 0.1), "{f:?}");
        let d = draw_once(&logits[..3], &params(0.0, 0, 1.0), &mut SplitMix64::new(0));
        assert_eq!(d.token, 2);
    }
}
