/** The collapse rule of docs/reproduction.md on synthetic runs, each built so one clause fires. */
import { describe, expect, it } from "vitest";

import { COLLAPSE_RULE, stabilityVerdict } from "../../../ts/src/sweep/verdict.js";

/** Training lines with success `f(step)` for steps 1..n (entropy 0.1, finite loss). */
function run(n: number, f: (step: number) => number, extra: (step: number) => Record<string, unknown> = () => ({})) {
  return Array.from({ length: n }, (_, i) => ({
    step: i + 1,
    "reward/mean": f(i + 1),
    "reward/success_frac": f(i + 1),
    "entropy/mean": 0.1,
    loss: 0.01,
    ...extra(i + 1),
  }));
}

describe("stabilityVerdict", () => {
  it("calls a run that climbs and holds stable, with its peak", () => {
    const v = stabilityVerdict(run(100, (s) => Math.min(0.2, s / 200)));
    expect(v).toMatchObject({ collapsed: false, step: null, reason: null, lateDrop: false });
    expect(v.peak).toBeCloseTo(0.2, 12);
    expect(v.final).toBeCloseTo(0.2, 12);
  });

  it("finds a collapse where the 10-step mean first falls below half the peak and stays there", () => {
    // 0.25 until step 60, then 1/64: the trailing mean falls below 0.125 at step 66 (5 of 0.25 and
    // 5 of 1/64 is above it; 4 and 6 below). Binary fractions keep the means exact.
    const v = stabilityVerdict(run(120, (s) => (s <= 60 ? 0.25 : 1 / 64)));
    expect(v).toMatchObject({ collapsed: true, reason: "success", step: 66, peakStep: 10, peak: 0.25 });
  });

  it("does not call a dip that recovers within 20 steps a collapse", () => {
    const v = stabilityVerdict(run(120, (s) => (s > 60 && s <= 75 ? 1 / 64 : 0.25)));
    expect(v.collapsed).toBe(false);
    // ...but one that recovers only after more than 20 steps is one.
    const late = stabilityVerdict(run(160, (s) => (s > 60 && s <= 100 ? 1 / 64 : 0.25)));
    expect(late).toMatchObject({ collapsed: true, step: 66 });
  });

  it("starts the trailing mean at its 10th step: one lucky early batch is no peak", () => {
    const v = stabilityVerdict(run(100, (s) => (s === 1 ? 0.5 : 0.0625)));
    expect(v).toMatchObject({ collapsed: false, peakStep: 10 });
    expect(v.peak).toBeCloseTo((0.5 + 9 * 0.0625) / 10, 12);
  });

  it("leaves a drop in the last 20 steps unjudged (lateDrop)", () => {
    const v = stabilityVerdict(run(100, (s) => (s <= 90 ? 0.2 : 0)));
    expect(v).toMatchObject({ collapsed: false, lateDrop: true });
  });

  it("fires on low entropy and on a non-finite loss, at the first such step", () => {
    const entropy = stabilityVerdict(
      run(
        50,
        () => 0.1,
        (s) => (s >= 30 ? { "entropy/mean": COLLAPSE_RULE.minEntropy / 2 } : {}),
      ),
    );
    expect(entropy).toMatchObject({ collapsed: true, reason: "entropy", step: 30 });
    const nan = stabilityVerdict(
      run(
        50,
        () => 0.1,
        (s) => (s === 12 ? { loss: null } : {}),
      ),
    );
    expect(nan).toMatchObject({ collapsed: true, reason: "nonfinite", step: 12 });
    const skipped = stabilityVerdict(
      run(
        50,
        () => 0.1,
        (s) => (s === 7 ? { "skipped/nonfinite": 1 } : {}),
      ),
    );
    expect(skipped).toMatchObject({ collapsed: true, reason: "nonfinite", step: 7 });
  });

  it("ignores eval lines and reads steps in order", () => {
    const lines = [...run(40, () => 0.125)].reverse();
    lines.push({ step: 20, "eval/countdown/greedy": 0 } as never);
    expect(stabilityVerdict(lines)).toMatchObject({ collapsed: false, peakStep: 10 });
  });
});
