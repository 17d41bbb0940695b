/**
 * N ranks inside one test process: each World's collectives wait for the other ranks' calls of the
 * same number and answer as MPI would (sum/min/max element-wise; the root's text). For testing the
 * trainer's JS side of data parallelism without MPI; the core's gradient reduction is not faked.
 */
import type { ReduceOp, World } from "../../../ts/src/distributed/world.js";

interface Pending {
  inputs: unknown[];
  arrived: number;
  resolve: ((value: unknown) => void)[];
  what: string;
}

export function fakeWorlds(size: number): World[] {
  const calls = new Map<number, Pending>();
  const counters = new Array<number>(size).fill(0);
  /** Rank `rank`'s next collective, answered with `answer(inputs)` once every rank has called it. */
  function collective<T>(rank: number, input: unknown, what: string, answer: (inputs: unknown[]) => T): Promise<T> {
    const n = counters[rank]!++;
    let call = calls.get(n);
    if (!call) {
      call = { inputs: new Array(size), arrived: 0, resolve: new Array(size), what };
      calls.set(n, call);
    }
    if (call.what !== what) throw new Error(`rank ${rank} called "${what}" where another rank called "${call.what}"`);
    const pending = call;
    return new Promise<T>((resolve) => {
      pending.inputs[rank] = input;
      pending.resolve[rank] = resolve as (value: unknown) => void;
      if (++pending.arrived === size) {
        calls.delete(n);
        const out = answer(pending.inputs);
        for (const r of pending.resolve) r(structuredClone(out));
      }
    });
  }
  const reduce = (op: ReduceOp) => (inputs: unknown[]) => {
    const rows = inputs as number[][];
    if (rows.some((r) => r.length !== rows[0]!.length)) throw new Error("all-reduce of different lengths");
    return rows[0]!.map((_, i) => {
      const xs = rows.map((r) => r[i]!);
      return op === "sum" ? xs.reduce((a, b) => a + b, 0) : op === "min" ? Math.min(...xs) : Math.max(...xs);
    });
  };
  return Array.from({ length: size }, (_, rank) => ({
    rank,
    size,
    backend: "fake",
    allReduce: (values, op, what) => collective(rank, [...values], what, reduce(op)),
    broadcastText: (text, what, root = 0) =>
      collective(rank, text, `${what} (root ${root})`, (inputs) => inputs[root] as string),
    guard: (work) => work,
  }));
}
