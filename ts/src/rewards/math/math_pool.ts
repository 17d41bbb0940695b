/**
 * The math verifier behind a worker pool: every check runs in a worker thread with a timeout and a
 * memory cap, and inputs are length-capped before they are sent, so hostile outputs
 * (`10^{10^{10}}`, 10,000 nested braces, huge numbers) come back as "wrong" / "timeout" instead of
 * hanging or crashing the trainer.
 */

import { WorkerPool, resolveWorkerScript, type PoolStats, type WorkerPoolOptions } from "../pool.js";
import { MATH_VERIFY_DEFAULTS, type MathCheck, type MathVerifyOptions } from "./verify.js";
import type { MathWorkerRequest } from "./worker.js";

/** Options of a {@link MathVerifierPool}. */
export interface MathPoolOptions extends WorkerPoolOptions {
  /** Default verifier options of every check (a call may override them). */
  verify?: MathVerifyOptions;
}

/** One item of {@link MathVerifierPool.verifyBatch}. */
export interface MathItem {
  gold: string;
  response: string;
}

/** Math verification in worker threads; `verify` never rejects. */
export class MathVerifierPool {
  private readonly pool: WorkerPool<MathWorkerRequest, MathCheck>;
  private readonly defaults: MathVerifyOptions;

  constructor(options: MathPoolOptions = {}) {
    this.pool = new WorkerPool(resolveWorkerScript(import.meta.url, "worker.js"), options);
    this.defaults = options.verify ?? {};
  }

  /** Checks one response against a gold answer. Time-outs and worker failures come back as verdicts. */
  async verify(gold: string, response: string, options?: MathVerifyOptions): Promise<MathCheck & { ms: number }> {
    const o = { ...this.defaults, ...options };
    const cap = o.maxResponseChars ?? MATH_VERIFY_DEFAULTS.maxResponseChars;
    const out = await this.pool.run({
      op: "verify",
      gold: gold.length > cap ? gold.slice(-cap) : gold,
      response: response.length > cap ? response.slice(-cap) : response,
      options: o,
    });
    return outcome(out);
  }

  /** Checks a bare predicted answer against a gold answer (no extraction). */
  async equivalent(gold: string, pred: string, options?: MathVerifyOptions): Promise<MathCheck & { ms: number }> {
    const o = { ...this.defaults, ...options };
    const cap = o.maxResponseChars ?? MATH_VERIFY_DEFAULTS.maxResponseChars;
    const out = await this.pool.run({ op: "equivalent", gold: gold.slice(-cap), pred: pred.slice(-cap), options: o });
    return outcome(out);
  }

  /** Checks many responses concurrently across the workers; results are in input order. */
  verifyBatch(items: readonly MathItem[], options?: MathVerifyOptions): Promise<Array<MathCheck & { ms: number }>> {
    return Promise.all(items.map((it) => this.verify(it.gold, it.response, options)));
  }

  /** Pool counters (tasks, timeouts, errors, workers started). */
  stats(): PoolStats {
    return this.pool.stats();
  }

  /** Terminates the workers. */
  close(): Promise<void> {
    return this.pool.close();
  }
}

function outcome(
  out: Awaited<ReturnType<WorkerPool<MathWorkerRequest, MathCheck>["run"]>>,
): MathCheck & { ms: number } {
  if (out.ok) return { ...out.value, ms: out.ms };
  return { verdict: out.reason, reason: out.message, ms: out.ms };
}
