//! Drawing one token from a row of logits: temperature, top-k, top-p (in that order, as in
//! Hugging Face and vLLM), and the log-prob of the drawn token under the distribution it was
//! actually drawn from.

use super::SamplingParams;
use crate::rng::SplitMix64;

/// A drawn token and its sampling log-prob.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Draw {
    pub token: u32,
    pub logprob: f32,
}

fn log_sum_exp(values: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    max + values.map(|v| (v - max).exp()).sum::<f64>().ln()
}

/// Draws from `logits` (one row, vocabulary-sized).
///
/// - temperature 0: greedy; the log-prob is that of the unmodified model distribution.
/// - otherwise: softmax(logits / temperature), restricted to the `top_k` largest and then to the
///   smallest set whose probability reaches `top_p`, renormalised; the log-prob is under this
///   renormalised distribution (at temperature 1 with no truncation, the model's log-prob).
pub(crate) fn draw(logits: &[f32], params: &SamplingParams, rng: &mut SplitMix64) -> Draw {
    if params.temperature == 0.0 {
        let (token, &best) =
            logits
                .iter()
                .enumerate()
                .fold((0, &f32::NEG_INFINITY), |acc, (i, v)| if *v > *acc.1 { (i, v) } else { acc });
        let lse = log_sum_exp(logits.iter().map(|&v| v as f64));
        return Draw { token: token as u32, logprob: (best as f64 - lse) as f32 };
    }
    let inv_t = 1.0 / params.temperature as f64;
    let scaled = |i: usize| logits[i] as f64 * inv_t;
    let vocab = logits.len();

    // Candidate ids, sorted by decreasing logit only when a truncation needs the order.
    let mut candidates: Vec<usize> = (0..vocab).collect();
    let by_logit_desc = |a: &usize, b: &usize| logits[*b].total_cmp(&logits[*a]);
    if params.top_k > 0 && params.top_k < vocab {
        candidates.select_nth_unstable_by(params.top_k - 1, by_logit_desc);
        candidates.truncate(params.top_k);
    }
    if params.top_p < 1.0 {
        candidates.sort_unstable_by(by_logit_desc);
        let lse = log_sum_exp(candidates.iter().map(|&i| scaled(i)));
        let mut mass = 0.0;
        let mut keep = candidates.len();
        for (rank, &i) in candidates.iter().enumerate() {
            mass += (scaled(i) - lse).exp();
            if mass >= params.top_p as f64 {
                keep = rank + 1;
                break;
            }
        }
        candidates.truncate(keep);
    }

    let lse = log_sum_exp(candidates.iter().map(|&i| scaled(i)));
    let u = rng.next_f64();
    let mut cumulative = 0.0;
    let mut chosen = *candidates.last().expect("at least one candidate");
    for &i in &candidates {
        cumulative += (scaled(i) - lse).exp();
        if u < cumulative {
            chosen = i;
            break;
        }
    }
    Draw { token: chosen as u32, logprob: (scaled(chosen) - lse) as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_k: usize, top_p: f32) -> SamplingParams {
        SamplingParams { temperature, top_k, top_p, ..SamplingParams::default() }
    }

    fn frequencies(logits: &[f32], p: &SamplingParams, n: usize) -> Vec<f64> {
        let mut rng = SplitMix64::new(11);
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[draw(logits, p, &mut rng).token as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn greedy_takes_argmax_with_model_logprob() {
        let logits = [0.0f32, 3.0, 1.0];
        let d = draw(&logits, &params(0.0, 0, 1.0), &mut SplitMix64::new(0));
        let lse = (1f64 + 3f64.exp() + 1f64.exp()).ln();
        assert_eq!(d.token, 1);
        assert!((d.logprob as f64 - (3.0 - lse)).abs() < 1e-6);
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
        let d = draw(&logits, &params(1.0, 0, 0.5), &mut SplitMix64::new(1));
        assert_eq!((d.token, d.logprob), (3, 0.0), "a single kept token has probability one");
    }
}
