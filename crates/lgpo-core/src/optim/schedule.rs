//! Learning-rate schedules, as a multiple of the base learning rate at each optimizer step.

use serde::{Deserialize, Serialize};

use crate::{bail_input, Result};

/// How the learning rate moves over optimizer steps (step 0 is the first update).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// The base rate throughout.
    #[default]
    Constant,
    /// Linear ramp from base/warmup_steps to the base rate over `warmup_steps`, then constant.
    LinearWarmup { warmup_steps: u64 },
    /// Linear warm-up, then cosine decay from the base rate to `min_ratio` × base at `total_steps`.
    Cosine { warmup_steps: u64, total_steps: u64, min_ratio: f64 },
}

impl LrSchedule {
    /// Checks the fields (names the bad one).
    pub fn validate(&self) -> Result<()> {
        if let LrSchedule::Cosine { warmup_steps, total_steps, min_ratio } = *self {
            if total_steps <= warmup_steps {
                bail_input!("schedule.total_steps ({total_steps}) must exceed schedule.warmup_steps ({warmup_steps})");
            }
            if !(0.0..=1.0).contains(&min_ratio) {
                bail_input!("schedule.min_ratio must be in [0, 1], got {min_ratio}");
            }
        }
        Ok(())
    }

    /// Multiplier of the base learning rate at `step`.
    pub fn factor(&self, step: u64) -> f64 {
        let warm = |warmup: u64| if step < warmup { (step + 1) as f64 / warmup as f64 } else { 1.0 };
        match *self {
            LrSchedule::Constant => 1.0,
            LrSchedule::LinearWarmup { warmup_steps } => warm(warmup_steps),
            LrSchedule::Cosine { warmup_steps, total_steps, min_ratio } => {
                if step < warmup_steps {
                    return warm(warmup_steps);
                }
                let progress = ((step - warmup_steps) as f64 / (total_steps - warmup_steps) as f64).min(1.0);
                min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_the_schedules() {
        assert_eq!(LrSchedule::Constant.factor(1000), 1.0);
        let warm = LrSchedule::LinearWarmup { warmup_steps: 4 };
        assert_eq!((warm.factor(0), warm.factor(3), warm.factor(10)), (0.25, 1.0, 1.0));
        let cos = LrSchedule::Cosine { warmup_steps: 2, total_steps: 12, min_ratio: 0.1 };
        assert_eq!((cos.factor(0), cos.factor(2)), (0.5, 1.0));
        assert!((cos.factor(7) - 0.55).abs() < 1e-12, "half-way is the mean of 1 and min_ratio");
        assert!((cos.factor(12) - 0.1).abs() < 1e-12 && (cos.factor(50) - 0.1).abs() < 1e-12);
        assert!(LrSchedule::Cosine { warmup_steps: 5, total_steps: 5, min_ratio: 0.0 }.validate().is_err());
    }
}
