/**
 * "Collapsed" or "stable", decided by code from a run's metrics, by one rule fixed before any
 * reproduction run (docs/reproduction.md):
 *
 * - sampled success (`reward/success_frac`, a 10-step trailing mean) falls below half of its
 *   running peak and does not climb back to half the peak within the next 20 steps; or
 * - generation entropy (`entropy/mean`) falls below 0.02 nats per token; or
 * - a step's loss is not finite (or the trainer skipped a non-finite update).
 *
 * A drop within the last 20 steps of a run cannot be told from noise yet: it is reported as
 * `lateDrop`, not as a collapse.
 */

/** The rule's constants. */
export const COLLAPSE_RULE = {
  window: 10,
  fraction: 0.5,
  recoverySteps: 20,
  minEntropy: 0.02,
} as const;

/** A run judged by the rule. */
export interface StabilityVerdict {
  collapsed: boolean;
  /** First step where the rule fired (null when stable). */
  step: number | null;
  reason: "success" | "entropy" | "nonfinite" | null;
  /** Highest trailing-mean success and where. */
  peak: number;
  peakStep: number | null;
  /** Trailing-mean success at the last step. */
  final: number;
  /** A drop below half the peak in the last `recoverySteps` steps (unjudged). */
  lateDrop: boolean;
}

type Line = Record<string, unknown>;

/** The verdict of one run's metrics.jsonl lines (training lines are those with `reward/mean`). */
export function stabilityVerdict(lines: readonly Line[], rule = COLLAPSE_RULE): StabilityVerdict {
  const steps = lines.filter((l) => "reward/mean" in l).sort((a, b) => (a.step as number) - (b.step as number));
  let first: { step: number; reason: StabilityVerdict["reason"] } | null = null;
  for (const l of steps) {
    const step = l.step as number;
    const loss = l.loss;
    if (typeof loss !== "number" || !Number.isFinite(loss) || ((l["skipped/nonfinite"] as number) ?? 0) > 0) {
      first = { step, reason: "nonfinite" };
      break;
    }
    if (typeof l["entropy/mean"] === "number" && (l["entropy/mean"] as number) < rule.minEntropy) {
      first = { step, reason: "entropy" };
      break;
    }
  }
  const success = steps.map((l) => l["reward/success_frac"] as number);
  // The trailing mean exists from the window's last step on: a mean over the first few steps
  // alone would make one lucky early batch the peak.
  const mean = success.map((_, i) => {
    if (i < rule.window - 1) return Number.NaN;
    const w = success.slice(i - rule.window + 1, i + 1);
    return w.reduce((a, b) => a + b, 0) / w.length;
  });
  let peak = Number.NEGATIVE_INFINITY;
  let peakStep: number | null = null;
  let lateDrop = false;
  for (let i = rule.window - 1; i < mean.length; i++) {
    const step = steps[i]!.step as number;
    if (first && step >= first.step) break;
    if (mean[i]! > peak) {
      peak = mean[i]!;
      peakStep = step;
    }
    if (!(mean[i]! < rule.fraction * peak)) continue;
    const after = steps.findIndex((l) => (l.step as number) > step + rule.recoverySteps);
    const window = mean.slice(i + 1, after === -1 ? mean.length : after);
    if (window.some((m) => m >= rule.fraction * peak)) continue;
    const lastStep = steps.at(-1)!.step as number;
    if (after === -1 && lastStep < step + rule.recoverySteps) {
      lateDrop = true;
      break;
    }
    first = { step, reason: "success" };
    break;
  }
  return {
    collapsed: first !== null,
    step: first?.step ?? null,
    reason: first?.reason ?? null,
    peak: peakStep === null ? 0 : peak,
    peakStep,
    final: mean.length >= rule.window ? mean.at(-1)! : 0,
    lateDrop: first === null && lateDrop,
  };
}
