/**
 * Custom reward functions: wrap a plain (sync or async) scoring function into a
 * {@link RewardFunction} with a per-sample timeout and error isolation. A function that throws (or
 * returns a non-finite number) scores `failureScore` and is counted under `errors` in the batch
 * metrics; one that runs past `timeoutMs` scores `failureScore` and is counted under `timeouts`.
 *
 * The timeout can only stop waiting for an asynchronous function: a synchronous function that blocks
 * the event loop cannot be interrupted in-process. Verifiers that may block on hostile input belong
 * in worker threads, as the math verifier does (rewards/pool.ts).
 */

import { rewardMetrics, type RewardBatch, type RewardFunction, type RewardInput, type RewardResult } from "./types.js";

/** What a custom scoring function may return: a score, or a score with a verdict / detail. */
export type CustomRewardValue = number | { score: number; verdict?: string; detail?: string };

/** A custom scoring function. */
export type CustomRewardFn = (input: RewardInput) => CustomRewardValue | Promise<CustomRewardValue>;

/** Options of {@link defineReward}. */
export interface CustomRewardOptions {
  /** Per-sample timeout in milliseconds. Default 10,000. */
  timeoutMs?: number;
  /** Score of a sample whose function threw or timed out. Default 0. */
  failureScore?: number;
  /** How many samples of a batch run at once (for async functions). Default 32. */
  concurrency?: number;
}

const TIMEOUT = Symbol("timeout");

async function scoreOne(
  fn: CustomRewardFn,
  input: RewardInput,
  timeoutMs: number,
  failureScore: number,
): Promise<RewardResult> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<typeof TIMEOUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMEOUT), timeoutMs);
    });
    const value = await Promise.race([Promise.resolve().then(() => fn(input)), timeout]);
    if (value === TIMEOUT) return { score: failureScore, status: "timeout", detail: `no score within ${timeoutMs} ms` };
    const v = typeof value === "number" ? { score: value } : value;
    if (typeof v?.score !== "number" || !Number.isFinite(v.score)) {
      return {
        score: failureScore,
        status: "error",
        detail: `reward returned a non-finite score: ${String(v?.score)}`,
      };
    }
    return {
      score: v.score,
      status: "ok",
      ...(v.verdict !== undefined ? { verdict: v.verdict } : {}),
      ...(v.detail !== undefined ? { detail: v.detail } : {}),
    };
  } catch (e) {
    return { score: failureScore, status: "error", detail: e instanceof Error ? e.message : String(e) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `worker` over `items` with at most `limit` in flight; results keep input order. */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  worker: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await worker(items[i]!, i);
    }
  });
  await Promise.all(lanes);
  return out;
}

/**
 * Wraps a scoring function into a {@link RewardFunction}.
 *
 * @example
 * const length = defineReward("short", ({ response }) => (response.length < 2000 ? 1 : 0));
 * const { results, metrics } = await length.score([{ response: "...", reference: {} }]);
 */
export function defineReward(name: string, fn: CustomRewardFn, options: CustomRewardOptions = {}): RewardFunction {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const failureScore = options.failureScore ?? 0;
  const concurrency = options.concurrency ?? 32;
  return {
    name,
    async score(inputs: readonly RewardInput[]): Promise<RewardBatch> {
      const t0 = Date.now();
      const results = await mapLimit(inputs, concurrency, (input) => scoreOne(fn, input, timeoutMs, failureScore));
      return { results, metrics: rewardMetrics(results, Date.now() - t0) };
    },
    async close() {},
  };
}
