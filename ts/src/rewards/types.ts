/**
 * The one signature every reward has: a batch of (response, reference) pairs in, one result per pair
 * and batch metrics out. Built-in verifiers (Countdown, math) and custom functions share it, so the
 * rollout code and the registry treat them alike.
 */

/** One sample to score. */
export interface RewardInput {
  /** The decoded model response (the completion, without the prompt). */
  response: string;
  /**
   * The dataset row the response answers, e.g. `{ target, nums }` for Countdown or `{ answer }` for
   * math. Verifiers read the fields they document and ignore the rest.
   */
  reference: Readonly<Record<string, unknown>>;
}

/** How scoring a sample ended: "error" and "timeout" score 0 (or the configured failure score). */
export type RewardStatus = "ok" | "error" | "timeout";

/** The score of one sample. */
export interface RewardResult {
  score: number;
  status: RewardStatus;
  /** The verifier's verdict ("correct", "wrong", "no_answer", ...), when it has one. */
  verdict?: string;
  /** Extra detail for logs: the extracted answer, an error message. */
  detail?: string;
}

/** Aggregates of one scored batch, for logging. */
export interface RewardMetrics {
  count: number;
  /** Mean score over the batch (0 for an empty batch). */
  meanScore: number;
  /** Samples whose reward threw (or returned a non-finite score). */
  errors: number;
  /** Samples whose reward ran past its timeout. */
  timeouts: number;
  /** Count of each verdict. */
  verdicts: Record<string, number>;
  /** Wall-clock milliseconds spent scoring the batch. */
  ms: number;
}

/** Results of a batch, in input order, and their metrics. */
export interface RewardBatch {
  results: RewardResult[];
  metrics: RewardMetrics;
}

/** A reward: scores batches, never throws for an individual sample. */
export interface RewardFunction {
  /** The name it is registered / logged under. */
  readonly name: string;
  /** Scores a batch. Rejects only on misuse (e.g. after `close`), never because of one sample. */
  score(inputs: readonly RewardInput[]): Promise<RewardBatch>;
  /** Releases resources (worker threads). Safe to call more than once. */
  close(): Promise<void>;
}

/** Computes {@link RewardMetrics} of results. */
export function rewardMetrics(results: readonly RewardResult[], ms = 0): RewardMetrics {
  const verdicts: Record<string, number> = {};
  let sum = 0;
  let errors = 0;
  let timeouts = 0;
  for (const r of results) {
    sum += r.score;
    if (r.status === "error") errors++;
    if (r.status === "timeout") timeouts++;
    const v = r.verdict ?? r.status;
    verdicts[v] = (verdicts[v] ?? 0) + 1;
  }
  return {
    count: results.length,
    meanScore: results.length ? sum / results.length : 0,
    errors,
    timeouts,
    verdicts,
    ms,
  };
}
