/**
 * The built-in rewards as {@link RewardFunction}s: Countdown (in-process: parsing is linear and
 * bounded) and math (in a worker pool with per-check timeouts).
 */

import { scoreCountdown, type CountdownOptions, type CountdownTask } from "./countdown.js";
import { MathVerifierPool, type MathPoolOptions } from "./math/math_pool.js";
import type { MathVerdict } from "./math/verify.js";
import { rewardMetrics, type RewardBatch, type RewardFunction, type RewardInput, type RewardResult } from "./types.js";

/** Reads `{ target, nums }` from a dataset row; a string says what is wrong. */
export function readCountdownTask(reference: Readonly<Record<string, unknown>>): CountdownTask | string {
  const { target, nums } = reference;
  if (typeof target !== "number" || !Number.isSafeInteger(target))
    return `field "target" must be an integer, got ${JSON.stringify(target)}`;
  if (
    !Array.isArray(nums) ||
    nums.length === 0 ||
    !nums.every((n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 0)
  ) {
    return `field "nums" must be a non-empty array of non-negative integers, got ${JSON.stringify(nums)}`;
  }
  return { target, nums: nums as number[] };
}

/** The Countdown reward: reference rows are `{ target: number, nums: number[] }`. */
export function countdownReward(options: CountdownOptions = {}): RewardFunction {
  return {
    name: "countdown",
    async score(inputs: readonly RewardInput[]): Promise<RewardBatch> {
      const t0 = Date.now();
      const results = inputs.map((input): RewardResult => {
        const task = readCountdownTask(input.reference);
        if (typeof task === "string") return { score: 0, status: "error", detail: task };
        try {
          const r = scoreCountdown(input.response, task, options);
          return {
            score: r.score,
            status: "ok",
            verdict: r.verdict,
            ...(r.answer !== undefined ? { detail: r.answer } : {}),
          };
        } catch (e) {
          return { score: 0, status: "error", detail: e instanceof Error ? e.message : String(e) };
        }
      });
      return { results, metrics: rewardMetrics(results, Date.now() - t0) };
    },
    async close() {},
  };
}

/** Options of the math reward. */
export interface MathRewardOptions extends MathPoolOptions {
  /** Score of a correct answer. Default 1. */
  correctScore?: number;
  /** Score of an answer that is present but wrong (or timed out). Default 0. */
  formatScore?: number;
  /** Score when no answer was found. Default 0. */
  noAnswerScore?: number;
  /** Field of the reference row holding the gold answer (a string, or a list of strings joined as a list). Default "answer". */
  answerField?: string;
}

/** A gold answer from a reference field: a string, or a list (OlympiadBench `final_answer`) joined with commas. */
export function goldAnswerOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) return value.join(", ");
  return undefined;
}

/** The math reward: reference rows hold the gold answer under `answerField` ("answer"). */
export function mathReward(options: MathRewardOptions = {}): RewardFunction {
  const field = options.answerField ?? "answer";
  const scores: Record<MathVerdict, number> = {
    correct: options.correctScore ?? 1,
    wrong: options.formatScore ?? 0,
    timeout: options.formatScore ?? 0,
    error: 0,
    no_answer: options.noAnswerScore ?? 0,
    bad_gold: 0,
  };
  let pool: MathVerifierPool | undefined;
  let closed = false;
  return {
    name: "math",
    async score(inputs: readonly RewardInput[]): Promise<RewardBatch> {
      if (closed) throw new Error("the math reward was closed");
      pool ??= new MathVerifierPool(options);
      const p = pool;
      const t0 = Date.now();
      const results = await Promise.all(
        inputs.map(async (input): Promise<RewardResult> => {
          const gold = goldAnswerOf(input.reference[field]);
          if (gold === undefined)
            return { score: 0, status: "error", detail: `field "${field}" must be a string or a list of strings` };
          const r = await p.verify(gold, input.response);
          const status =
            r.verdict === "timeout" ? "timeout" : r.verdict === "error" || r.verdict === "bad_gold" ? "error" : "ok";
          const detail = r.extracted ?? r.reason;
          return { score: scores[r.verdict], status, verdict: r.verdict, ...(detail !== undefined ? { detail } : {}) };
        }),
      );
      return { results, metrics: rewardMetrics(results, Date.now() - t0) };
    },
    async close() {
      closed = true;
      await pool?.close();
      pool = undefined;
    },
  };
}
