/**
 * Verifies a JSONL file of responses: the body of `lgpo-run verify --task countdown|math --input FILE`.
 *
 * Input: one JSON object per line (blank lines are skipped).
 * - countdown: `{"response": string, "target": integer, "nums": integer[]}`
 * - math:      `{"response": string, "answer": string | string[]}` (a list is one answer with several
 *   values, such as OlympiadBench's `final_answer`)
 * Other fields are ignored. A line that is not such an object stops the run with a
 * {@link VerifyInputError} naming the line number and the field.
 *
 * Output: one JSON verdict per input line, in order:
 * `{"line": 3, "score": 1, "verdict": "correct", "status": "ok", "answer": "..."}`;
 * the summary is returned (and {@link formatVerifySummary} renders it for a terminal).
 */

import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { once } from "node:events";
import type { Writable } from "node:stream";
import { countdownReward, mathReward, readCountdownTask, goldAnswerOf, type MathRewardOptions } from "./builtin.js";
import type { CountdownOptions } from "./countdown.js";
import { rewardMetrics, type RewardFunction, type RewardInput, type RewardResult } from "./types.js";

/** Tasks the verify command knows. */
export type VerifyTask = "countdown" | "math";

/** Options of {@link verifyFile}. */
export interface VerifyFileOptions {
  /** Options of the Countdown reward. */
  countdown?: CountdownOptions;
  /** Options of the math reward (extraction, tolerances, pool size, timeout). */
  math?: MathRewardOptions;
  /** Lines scored together (the math pool checks a batch concurrently). Default 64. */
  batchSize?: number;
}

/** Totals of a verified file. */
export interface VerifySummary {
  task: VerifyTask;
  total: number;
  correct: number;
  /** correct / total (0 for an empty file). */
  accuracy: number;
  meanScore: number;
  errors: number;
  timeouts: number;
  /** Count of each verdict. */
  verdicts: Record<string, number>;
  ms: number;
}

/** A malformed input line. */
export class VerifyInputError extends Error {
  readonly line: number;
  readonly field: string | undefined;
  constructor(line: number, message: string, field?: string) {
    super(`line ${line}: ${message}`);
    this.name = "VerifyInputError";
    this.line = line;
    this.field = field;
  }
}

function toInput(task: VerifyTask, lineNo: number, text: string): RewardInput {
  let row: unknown;
  try {
    row = JSON.parse(text);
  } catch (e) {
    throw new VerifyInputError(lineNo, `invalid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  if (typeof row !== "object" || row === null || Array.isArray(row))
    throw new VerifyInputError(lineNo, "expected a JSON object");
  const r = row as Record<string, unknown>;
  if (typeof r.response !== "string")
    throw new VerifyInputError(lineNo, `field "response" must be a string, got ${describe(r.response)}`, "response");
  if (task === "countdown") {
    const t = readCountdownTask(r);
    if (typeof t === "string") throw new VerifyInputError(lineNo, t, t.includes('"target"') ? "target" : "nums");
  } else if (goldAnswerOf(r.answer) === undefined) {
    throw new VerifyInputError(
      lineNo,
      `field "answer" must be a string or a list of strings, got ${describe(r.answer)}`,
      "answer",
    );
  }
  return { response: r.response, reference: r };
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing (missing)";
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, "drain");
}

/**
 * Scores every line of `inputPath` with the `task` verifier, writes one JSON verdict per line to
 * `out`, and returns the summary. Throws {@link VerifyInputError} on the first malformed line (the
 * verdicts of the lines before it are written first).
 */
export async function verifyFile(
  task: VerifyTask,
  inputPath: string,
  out: Writable,
  options: VerifyFileOptions = {},
): Promise<VerifySummary> {
  if (task !== "countdown" && task !== "math")
    throw new Error(`unknown task ${JSON.stringify(task)}; valid tasks: countdown, math`);
  const reward: RewardFunction = task === "countdown" ? countdownReward(options.countdown) : mathReward(options.math);
  const batchSize = Math.max(1, options.batchSize ?? 64);
  const t0 = Date.now();
  const all: RewardResult[] = [];
  let batch: Array<{ line: number; input: RewardInput }> = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const { results } = await reward.score(batch.map((b) => b.input));
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      all.push(r);
      const verdict = {
        line: batch[i]!.line,
        score: r.score,
        verdict: r.verdict ?? r.status,
        status: r.status,
        ...(r.detail !== undefined ? { answer: r.detail } : {}),
      };
      await write(out, JSON.stringify(verdict) + "\n");
    }
    batch = [];
  };

  const rl = createInterface({ input: createReadStream(inputPath, { encoding: "utf8" }), crlfDelay: Infinity });
  try {
    let lineNo = 0;
    for await (const line of rl) {
      lineNo++;
      if (line.trim().length === 0) continue;
      let input: RewardInput;
      try {
        input = toInput(task, lineNo, line);
      } catch (e) {
        await flush();
        throw e;
      }
      batch.push({ line: lineNo, input });
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    rl.close();
    await reward.close();
  }
  const m = rewardMetrics(all, Date.now() - t0);
  const correct = m.verdicts.correct ?? 0;
  return {
    task,
    total: m.count,
    correct,
    accuracy: m.count ? correct / m.count : 0,
    meanScore: m.meanScore,
    errors: m.errors,
    timeouts: m.timeouts,
    verdicts: m.verdicts,
    ms: m.ms,
  };
}

/** One line for a terminal: `math: 412/500 correct (82.4%), mean score 0.824, 0 errors, 1 timeout, 3.1 s`. */
export function formatVerifySummary(s: VerifySummary): string {
  const pct = (100 * s.accuracy).toFixed(1);
  return `${s.task}: ${s.correct}/${s.total} correct (${pct}%), mean score ${s.meanScore.toFixed(3)}, ${s.errors} errors, ${s.timeouts} timeouts, ${(s.ms / 1000).toFixed(1)} s; verdicts ${JSON.stringify(s.verdicts)}`;
}
