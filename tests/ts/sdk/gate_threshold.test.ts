/** LGPO's τ per step: the quantile, the controller, the state a resume restores, the core's form. */
import { describe, expect, it } from "vitest";

import {
  controllerUpdate,
  coreGate,
  GATE_DEFAULTS,
  GateThreshold,
  meanLoglikelihood,
  quantile,
} from "../../../ts/src/sdk/gate_threshold.js";
import { coreObjective } from "../../../ts/src/sdk/objectives.js";

describe("quantile", () => {
  it("interpolates between order statistics as numpy's default does", () => {
    // Sorted: -0.9 -0.5 -0.3 -0.2 -0.1; (n - 1) q = 4 * 0.9 = 3.6: -0.2 + 0.6 * (-0.1 - -0.2) = -0.14.
    expect(quantile([-0.3, -0.1, -0.9, -0.2, -0.5], 0.9)).toBeCloseTo(-0.14, 12);
    // 4 * 0.5 = 2: the median exactly.
    expect(quantile([-0.3, -0.1, -0.9, -0.2, -0.5], 0.5)).toBe(-0.3);
    // 4 * 0.25 = 1: -0.5.
    expect(quantile([-0.3, -0.1, -0.9, -0.2, -0.5], 0.25)).toBe(-0.5);
    expect(quantile([-0.4], 0.9)).toBe(-0.4);
    expect(() => quantile([], 0.5)).toThrow(RangeError);
  });

  it("gates the most confident 1 - q of a batch, at any scale", () => {
    const means = Array.from({ length: 100 }, (_, i) => -(i + 1) / 50); // -0.02 .. -2
    for (const scale of [1, 0.1, 10]) {
      const scaled = means.map((m) => m * scale);
      const tau = new GateThreshold({ mode: "quantile", q: 0.9 }).threshold(scaled);
      expect(scaled.filter((m) => m > tau).length).toBe(10);
    }
  });
});

describe("controllerUpdate", () => {
  const settings = { target: 0.1, rate: 0.1, tau_min: -2, tau_max: -0.005 };

  it("moves |tau| by exp(-rate * e) with e = clip(fraction / target - 1, -1, 1)", () => {
    // Nothing gated: e = -1, |tau| grows by exp(0.1).
    expect(controllerUpdate(-0.15, 0, settings)).toBeCloseTo(-0.15 * Math.exp(0.1), 12);
    // 0.15 gated against 0.1: e = 0.5, |tau| shrinks by exp(-0.05).
    expect(controllerUpdate(-0.15, 0.15, settings)).toBeCloseTo(-0.15 * Math.exp(-0.05), 12);
    // 0.9 gated: e clipped to 1.
    expect(controllerUpdate(-0.15, 0.9, settings)).toBeCloseTo(-0.15 * Math.exp(-0.1), 12);
    // On target: unchanged.
    expect(controllerUpdate(-0.15, 0.1, settings)).toBeCloseTo(-0.15, 15);
  });

  it("keeps tau in [tau_min, tau_max]", () => {
    expect(controllerUpdate(-1.95, 0, settings)).toBe(-2);
    expect(controllerUpdate(-0.0051, 1, settings)).toBe(-0.005);
  });
});

describe("GateThreshold", () => {
  it("fixed: the configured tau every step, the paper's by default", () => {
    expect(new GateThreshold(undefined).threshold([-0.01, -0.02])).toBe(GATE_DEFAULTS.tau);
    const fixed = new GateThreshold({ tau: -0.05 });
    fixed.observe([0, 0, 0], -0.05);
    expect(fixed.threshold([-3])).toBe(-0.05);
    expect(fixed.state).toEqual({ tau: null });
  });

  it("target: tracks the fraction of the rollout above tau, and resumes from its state", () => {
    const gate = new GateThreshold({ mode: "target", tau: -0.1, target: 0.25, rate: 0.2 });
    const means = [-0.05, -0.08, -0.3, -0.4]; // at tau -0.1: 2 of 4 above, e = 0.5 / 0.25 - 1 = 1
    const first = gate.threshold(means);
    expect(first).toBe(-0.1);
    gate.observe(means, first);
    const second = -0.1 * Math.exp(-0.2);
    expect(gate.threshold(means)).toBeCloseTo(second, 12);
    const resumed = new GateThreshold({ mode: "target", tau: -0.1, target: 0.25, rate: 0.2 }, gate.state);
    expect(resumed.threshold(means)).toBe(gate.threshold(means));
    // The controller converges: a fraction of 1/4 above tau holds it still.
    for (let i = 0; i < 60; i++) gate.observe(means, gate.threshold(means));
    const tau = gate.threshold(means);
    expect(means.filter((m) => m > tau).length).toBe(1);
  });

  it("mean log-likelihood leaves out forced tokens, as the core's statistic", () => {
    expect(meanLoglikelihood([-0.001, -0.2, -0.3, -0.002], [true, false, false, true])).toBeCloseTo(-0.25, 15);
    expect(meanLoglikelihood([-0.001, -0.2, -0.3, -0.002])).toBeCloseTo(-0.12575, 15);
    expect(meanLoglikelihood([-0.1], [true])).toBe(0);
  });
});

describe("coreObjective", () => {
  it("hands the core a fixed tau and the ablations' settings only", () => {
    const config = {
      name: "lgpo_stochastic" as const,
      gate: { mode: "quantile" as const, q: 0.8, probability: 0.3, exclude_forced: true },
    };
    expect(coreObjective(config, -0.07)).toEqual({ name: "lgpo_stochastic", gate: { tau: -0.07, probability: 0.3 } });
    expect(() => coreObjective(config)).toThrow(/mode `quantile` chooses τ per rollout step/);
    expect(coreObjective({ name: "lgpo", gate: { tau: -0.05, tau_low: -3 } })).toEqual({
      name: "lgpo",
      gate: { tau: -0.05, tau_low: -3 },
    });
    expect(coreGate({ mode: "target", tau: -0.2 }, undefined)).toEqual({ tau: -0.2 });
  });
});
