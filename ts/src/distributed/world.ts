/**
 * The data-parallel job this process is a rank of (docs/distributed.md): its rank, its size and
 * the few collectives the trainer's JS side needs (the gradient all-reduce happens inside the
 * core's training step). One process on its own is a world of one whose collectives return their
 * input. A collective that waits longer than the timeout ends the whole job with an error naming
 * the waiting rank and the collective, instead of hanging.
 */
import { native } from "../sdk/native.js";

export type ReduceOp = "sum" | "min" | "max";

/** This process's place in its job, and the job's collectives. */
export interface World {
  readonly rank: number;
  readonly size: number;
  /** `single` (one process) or `mpi`. */
  readonly backend: string;
  /** Element-wise `op` over the ranks; `what` names the collective in a timeout error. */
  allReduce(values: readonly number[], op: ReduceOp, what: string): Promise<number[]>;
  /** Rank `root`'s text (default 0) on every rank (the others' `text` is ignored). */
  broadcastText(text: string, what: string, root?: number): Promise<string>;
  /** `work`, which waits on the other ranks inside the core (a training step), under the timeout. */
  guard<T>(work: Promise<T>, what: string): Promise<T>;
}

/** A process on its own. */
export const SINGLE_PROCESS: World = {
  rank: 0,
  size: 1,
  backend: "single",
  allReduce: async (values) => [...values],
  broadcastText: async (text) => text,
  guard: (work) => work,
};

/** Seconds a rank waits for the others before it ends the job: `LGPO_DIST_TIMEOUT_S`, default 1800. */
export function collectiveTimeoutS(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.LGPO_DIST_TIMEOUT_S;
  if (raw === undefined || raw === "") return 1800;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new TypeError(`LGPO_DIST_TIMEOUT_S must be a positive number, got ${raw}`);
  return s;
}

class NativeWorld implements World {
  constructor(
    readonly rank: number,
    readonly size: number,
    readonly backend: string,
    private readonly timeoutS: number,
  ) {}

  allReduce(values: readonly number[], op: ReduceOp, what: string): Promise<number[]> {
    return this.guard(native().allReduce([...values], op), what);
  }

  broadcastText(text: string, what: string, root = 0): Promise<string> {
    return this.guard(native().broadcastText(text, root), what);
  }

  async guard<T>(work: Promise<T>, what: string): Promise<T> {
    const timer = setTimeout(() => {
      const others = Array.from({ length: this.size }, (_, r) => r).filter((r) => r !== this.rank);
      process.stderr.write(
        `lgpo rank ${this.rank} of ${this.size}: waited ${this.timeoutS} s for the other ranks at ${what}; ` +
          `rank ${others.join(" or ")} died or hung (LGPO_DIST_TIMEOUT_S sets the wait); ending the job\n`,
      );
      native().abortDistributed(70);
    }, this.timeoutS * 1000);
    timer.unref();
    try {
      return await work;
    } finally {
      clearTimeout(timer);
    }
  }
}

let world: World | undefined;

/**
 * Joins the job a launcher (`mpirun`, `srun`) started this process in, or returns
 * {@link SINGLE_PROCESS} when none did. Policies loaded afterwards train with it. Throws when
 * launched as one of several ranks by an addon built without MPI (the message says how to build).
 */
export function initWorld(): World {
  if (world !== undefined) return world;
  const info = native().initDistributed();
  world =
    info.backend === "single"
      ? SINGLE_PROCESS
      : new NativeWorld(info.rank, info.size, info.backend, collectiveTimeoutS());
  return world;
}

/** Finalises MPI if this process joined a job (a rank must before it exits). */
export function finalizeWorld(): void {
  if (world !== undefined && world !== SINGLE_PROCESS) native().finalizeDistributed();
  world = undefined;
}
