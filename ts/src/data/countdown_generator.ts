/**
 * Seeded Countdown task generator: draws 3-4 numbers and a target in the ranges of the
 * Countdown-Tasks-3to4 data TinyZero trains on (numbers 1-99, targets 10-99 by default) and keeps only
 * solvable tasks (checked with the solver), each with one reference solution for SFT data. The same
 * seed gives the same tasks.
 */

import { solveCountdown } from "./countdown_solver.js";
import { mulberry32 } from "../util/random.js";

/** Options of {@link generateCountdownTasks}; every field has a default. */
export interface CountdownGenOptions {
  /** Seed of the generator. Default 0. */
  seed?: number;
  /** Fewest numbers per task. Default 3. */
  minNums?: number;
  /** Most numbers per task. Default 4. */
  maxNums?: number;
  /** Numbers are drawn uniformly from [1, maxNumber]. Default 99. */
  maxNumber?: number;
  /** Targets are drawn uniformly from [minTarget, maxTarget]. Defaults 10 and 99. */
  minTarget?: number;
  maxTarget?: number;
}

/** A generated task with a reference solution. */
export interface GeneratedCountdownTask {
  target: number;
  nums: number[];
  solution: string;
}

/** `count` solvable tasks; draws that have no solution are skipped (at most 100 draws per task). */
export function generateCountdownTasks(count: number, options: CountdownGenOptions = {}): GeneratedCountdownTask[] {
  const { seed = 0, minNums = 3, maxNums = 4, maxNumber = 99, minTarget = 10, maxTarget = 99 } = options;
  if (minNums < 1 || maxNums < minNums || maxNumber < 1 || maxTarget < minTarget)
    throw new RangeError("invalid Countdown generator ranges");
  const rand = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const out: GeneratedCountdownTask[] = [];
  for (let draws = 0; out.length < count; draws++) {
    if (draws > 100 * Math.max(1, count))
      throw new Error(`could not find ${count} solvable Countdown tasks with these ranges`);
    const nums = Array.from({ length: int(minNums, maxNums) }, () => int(1, maxNumber));
    const target = int(minTarget, maxTarget);
    const solution = solveCountdown(nums, target);
    if (solution !== undefined) out.push({ target, nums, solution });
  }
  return out;
}
