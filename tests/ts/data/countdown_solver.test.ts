import { describe, expect, it } from "vitest";
import { solveCountdown, solveCountdownAll } from "../../../ts/src/data/countdown_solver.js";
import { scoreCountdown } from "../../../ts/src/rewards/countdown.js";

const verify = (nums: number[], target: number, sol: string) =>
  scoreCountdown(`<answer>${sol}</answer>`, { nums, target }).score;

describe("countdown solver", () => {
  it("solves small tasks with a solution the verifier accepts", () => {
    for (const [nums, target] of [
      [[3, 4, 2, 1], 24],
      [[6, 81, 97, 52], 74],
      [[1, 3, 4, 6], 24], // needs fractions: 6 / (1 - 3/4)
      [[5, 5, 5, 1], 24], // 5 * (5 - 1/5)
      [[7], 7],
    ] as Array<[number[], number]>) {
      const sol = solveCountdown(nums, target);
      expect(sol, `${nums} -> ${target}`).toBeDefined();
      expect(verify(nums, target, sol!)).toBe(1);
    }
  });

  it("reports unsolvable tasks", () => {
    expect(solveCountdown([1, 1, 1], 100)).toBeUndefined();
    expect(solveCountdown([2], 3)).toBeUndefined();
    expect(solveCountdown([], 0)).toBeUndefined();
  });

  it("lists several distinct solutions, all valid", () => {
    const sols = solveCountdownAll([3, 4, 2, 1], 24, { limit: 5 });
    expect(sols.length).toBe(5);
    expect(new Set(sols).size).toBe(5);
    for (const s of sols) expect(verify([3, 4, 2, 1], 24, s)).toBe(1);
  });
});

describe("countdown generator", () => {
  it("makes solvable tasks deterministically from a seed", async () => {
    const { generateCountdownTasks } = await import("../../../ts/src/data/countdown_generator.js");
    const a = generateCountdownTasks(50, { seed: 7 });
    expect(a).toEqual(generateCountdownTasks(50, { seed: 7 }));
    expect(a).not.toEqual(generateCountdownTasks(50, { seed: 8 }));
    for (const t of a) {
      expect(t.nums.length).toBeGreaterThanOrEqual(3);
      expect(t.nums.length).toBeLessThanOrEqual(4);
      expect(t.target).toBeGreaterThanOrEqual(10);
      expect(verify(t.nums, t.target, t.solution)).toBe(1);
    }
    expect(() => generateCountdownTasks(1, { minNums: 0 })).toThrow(RangeError);
  });
});
