//! Metrics of an objective. Counts and sums are additive, so the statistics of micro-batches
//! merge into those of their minibatch before ratios are taken.

use std::collections::BTreeMap;

/// Named metric values, e.g. `gated_frac` → 0.31. The keys are documented on [`ObjectiveStats::metrics`].
pub type Metrics = BTreeMap<String, f64>;

/// Additive statistics of one or more objective evaluations.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveStats {
    /// Aggregated loss (already normalised by the minibatch counts, so contributions add up).
    pub loss: f64,
    pub sequences: f64,
    /// Sequences dropped by the objective's trust region (LGPO gate, GSPO sequence clip).
    pub gated: f64,
    pub zero_advantage: f64,
    /// Sequences kept with A ≠ 0: those that carry gradient (paper Figure 11).
    pub kept_nonzero_advantage: f64,
    pub tokens: f64,
    pub clipped_low_tokens: f64,
    pub clipped_high_tokens: f64,
    pub logprob_sum: f64,
    pub entropy_sum: Option<f64>,
    /// Σ ratio, min, max and Σ k3 estimate of KL(old ‖ current), when old log-probs were given.
    pub ratio: Option<RatioStats>,
}

/// Token-level statistics of the importance ratio r = π_θ / π_old.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioStats {
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub kl_sum: f64,
}

impl Default for ObjectiveStats {
    fn default() -> Self {
        ObjectiveStats {
            loss: 0.0,
            sequences: 0.0,
            gated: 0.0,
            zero_advantage: 0.0,
            kept_nonzero_advantage: 0.0,
            tokens: 0.0,
            clipped_low_tokens: 0.0,
            clipped_high_tokens: 0.0,
            logprob_sum: 0.0,
            entropy_sum: None,
            ratio: None,
        }
    }
}

fn merge_option<T>(a: Option<T>, b: Option<T>, f: impl FnOnce(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

impl ObjectiveStats {
    /// Adds the statistics of another micro-batch of the same minibatch.
    pub fn merge(&mut self, other: &ObjectiveStats) {
        self.loss += other.loss;
        self.sequences += other.sequences;
        self.gated += other.gated;
        self.zero_advantage += other.zero_advantage;
        self.kept_nonzero_advantage += other.kept_nonzero_advantage;
        self.tokens += other.tokens;
        self.clipped_low_tokens += other.clipped_low_tokens;
        self.clipped_high_tokens += other.clipped_high_tokens;
        self.logprob_sum += other.logprob_sum;
        self.entropy_sum = merge_option(self.entropy_sum, other.entropy_sum, |a, b| a + b);
        self.ratio = merge_option(self.ratio, other.ratio, |a, b| RatioStats {
            sum: a.sum + b.sum,
            min: a.min.min(b.min),
            max: a.max.max(b.max),
            kl_sum: a.kl_sum + b.kl_sum,
        });
    }

    /// The metrics: `loss`; `gated_frac`, `zero_adv_frac`, `kept_nonzero_adv_frac` (fractions of
    /// sequences); `clip_frac_low`, `clip_frac_high` (fractions of tokens whose ratio was clipped
    /// from below with A < 0 / from above with A > 0); `logprob_mean`; `entropy_mean` (when
    /// entropies were given); `ratio_mean`, `ratio_min`, `ratio_max` and `approx_kl` (token-mean
    /// k3 estimate of KL(π_old ‖ π_θ)) when old log-probs were given.
    pub fn metrics(&self) -> Metrics {
        let per_seq = |v: f64| if self.sequences > 0.0 { v / self.sequences } else { 0.0 };
        let per_token = |v: f64| if self.tokens > 0.0 { v / self.tokens } else { 0.0 };
        let mut m = Metrics::new();
        m.insert("loss".into(), self.loss);
        m.insert("gated_frac".into(), per_seq(self.gated));
        m.insert("zero_adv_frac".into(), per_seq(self.zero_advantage));
        m.insert("kept_nonzero_adv_frac".into(), per_seq(self.kept_nonzero_advantage));
        m.insert("clip_frac_low".into(), per_token(self.clipped_low_tokens));
        m.insert("clip_frac_high".into(), per_token(self.clipped_high_tokens));
        m.insert("logprob_mean".into(), per_token(self.logprob_sum));
        if let Some(entropy) = self.entropy_sum {
            m.insert("entropy_mean".into(), per_token(entropy));
        }
        if let Some(r) = self.ratio {
            m.insert("ratio_mean".into(), per_token(r.sum));
            m.insert("ratio_min".into(), r.min);
            m.insert("ratio_max".into(), r.max);
            m.insert("approx_kl".into(), per_token(r.kl_sum));
        }
        m
    }
}
