/** Group-relative advantages against the formula computed in a plain loop, and DAPO's overlong shaping. */
import { describe, expect, it } from "vitest";

import { groupAdvantages, overlongPenalty } from "../../../ts/src/rollout/advantages.js";
import { mulberry32 } from "../../../ts/src/util/random.js";

function reference(rewards: number[], g: number, scale: "group_std" | "batch_std" | "none", eps: number): number[] {
  const std = (xs: number[]) => {
    const m = xs.reduce((a, b) => a + b, 0) / xs.length;
    let s = 0;
    for (const x of xs) s += (x - m) * (x - m);
    return Math.sqrt(s / (xs.length - 1));
  };
  const out: number[] = [];
  for (let i = 0; i < rewards.length; i++) {
    const group = rewards.slice(Math.floor(i / g) * g, Math.floor(i / g) * g + g);
    let m = 0;
    for (const x of group) m += x / g;
    const s = scale === "group_std" ? std(group) : scale === "batch_std" ? std(rewards) : 1;
    out.push(scale === "none" ? rewards[i]! - m : (rewards[i]! - m) / (s + eps));
  }
  return out;
}

describe("group advantages", () => {
  it("match (R - group mean) / (std + eps) for every scale", () => {
    const rand = mulberry32(9);
    for (const scale of ["group_std", "batch_std", "none"] as const) {
      const rewards = Array.from({ length: 24 }, () => Math.floor(rand() * 3) / 2);
      const got = groupAdvantages(rewards, 8, scale, 1e-6);
      const want = reference(rewards, 8, scale, 1e-6);
      got.forEach((a, i) => {
        if (
          rewards
            .slice(Math.floor(i / 8) * 8, Math.floor(i / 8) * 8 + 8)
            .every((r) => r === rewards[Math.floor(i / 8) * 8])
        ) {
          expect(a).toBe(0);
        } else {
          expect(a).toBeCloseTo(want[i]!, 9);
        }
      });
    }
  });

  it("gives exactly 0 to a group of equal rewards whose rounded mean is off by an ulp", () => {
    const rewards = Array.from({ length: 8 }, () => 0.1);
    expect(rewards.reduce((a, b) => a + b, 0) / 8).not.toBe(0.1);
    expect(groupAdvantages(rewards, 8, "group_std", 1e-6)).toEqual(Array(8).fill(0));
  });

  it("GRPO's known values: rewards [1, 0, 0, 0] (unbiased std 0.5) give [1.5, -0.5, -0.5, -0.5]", () => {
    const a = groupAdvantages([1, 0, 0, 0], 4, "group_std", 0);
    [1.5, -0.5, -0.5, -0.5].forEach((want, i) => {
      expect(a[i]).toBeCloseTo(want, 12);
    });
    expect(() => groupAdvantages([1, 2, 3], 2, "none", 0)).toThrow(/do not split into groups of 2/);
  });

  it("shapes overlong responses linearly to -penalty at the limit (DAPO Eq. 13)", () => {
    expect(overlongPenalty(700, 1024, 256, 1)).toBe(0);
    expect(overlongPenalty(768, 1024, 256, 1)).toBe(0);
    expect(overlongPenalty(896, 1024, 256, 1)).toBeCloseTo(-0.5, 12);
    expect(overlongPenalty(1024, 1024, 256, 0.5)).toBeCloseTo(-0.5, 12);
  });
});
