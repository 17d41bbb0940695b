/**
 * A small worker pool (node:worker_threads) with a per-task timeout and a per-worker memory cap.
 *
 * A task that runs past its timeout has its worker terminated (a synchronous loop inside the worker
 * cannot be interrupted any other way) and resolves as `{ ok: false, reason: "timeout" }`; a worker
 * that dies (out of memory, crash) resolves its task as `{ ok: false, reason: "error" }`. Either way a
 * fresh worker is started for the next task, and `run` never rejects, so one hostile model output
 * cannot hang or crash the trainer. Workers are unref'd: an idle pool does not keep the process alive.
 *
 * Workers run compiled JavaScript. When this module is loaded from the TypeScript sources (vitest
 * runs `ts/src/**.ts` directly), the worker script is looked up in the compiled package instead:
 * `ts/src/rewards/x.ts` -> `ts/dist/rewards/x.js`. Build it first (`npm run build:ts`); a missing build
 * fails with a message that says so, and a build older than its sources prints a warning.
 */

import { Worker } from "node:worker_threads";
import { existsSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Options of a {@link WorkerPool}. */
export interface WorkerPoolOptions {
  /** Number of workers. Default: the number of CPU cores, at most 4. */
  size?: number;
  /** Per-task timeout in milliseconds. Default 5000. */
  timeoutMs?: number;
  /** Old-generation heap cap of each worker in MiB. Default 512. */
  memoryMb?: number;
  /** Passed to every worker as `workerData`. */
  workerData?: unknown;
}

/** The outcome of one task: its result, or why there is none. */
export type TaskOutcome<R> =
  | { ok: true; value: R; ms: number }
  | { ok: false; reason: "timeout" | "error"; message: string; ms: number };

/** Counters of a pool since it was created. */
export interface PoolStats {
  tasks: number;
  timeouts: number;
  errors: number;
  /** Workers started, including replacements. */
  workersStarted: number;
}

interface Pending<Q, R> {
  id: number;
  request: Q;
  timeoutMs: number;
  resolve: (o: TaskOutcome<R>) => void;
}

interface Slot<Q, R> {
  worker: Worker;
  busy?: { task: Pending<Q, R>; timer: NodeJS.Timeout; started: number };
  /** False once the worker died or was terminated. */
  ready: boolean;
  /** The worker's script has loaded (it posted `{ ready: true }`): tasks go only to loaded workers,
   * so a worker's start-up (module loading, seconds under load) never counts against a task's timeout. */
  loaded: boolean;
  /** Fails the worker if its script has not loaded in time. */
  startup?: NodeJS.Timeout;
}

/** How long a worker may take to load its script before it counts as failed. */
const STARTUP_TIMEOUT_MS = 60_000;

/** The message a worker script posts once it has loaded and listens: `parentPort.postMessage(WORKER_READY)`. */
export const WORKER_READY = { ready: true } as const;

/**
 * Resolves a worker script that sits beside `moduleUrl` (the caller's `import.meta.url`): the
 * compiled `.js` next to a compiled module, or the `dist/` twin of a `src/` TypeScript module.
 */
export function resolveWorkerScript(moduleUrl: string, workerFile: string): string {
  const here = fileURLToPath(moduleUrl);
  if (!here.endsWith(".ts")) return join(dirname(here), workerFile);
  const marker = `${sep}src${sep}`;
  const at = here.lastIndexOf(marker);
  if (at < 0) throw new Error(`cannot locate the compiled worker for ${here}: not under a src/ directory`);
  const root = here.slice(0, at);
  const rel = dirname(here.slice(at + marker.length));
  const script = join(root, "dist", rel, workerFile);
  if (!existsSync(script)) {
    throw new Error(
      `lgpo: the compiled worker ${script} does not exist. Verifier workers run compiled JavaScript; ` +
        `build the TypeScript package first: npm run build:ts (tsc -p ts/tsconfig.json)`,
    );
  }
  warnIfStale(join(root, "src", rel), script);
  return script;
}

const warned = new Set<string>();
function warnIfStale(srcDir: string, script: string): void {
  if (warned.has(script)) return;
  warned.add(script);
  try {
    const built = statSync(script).mtimeMs;
    const entries = readdirSync(dirname(srcDir), { recursive: true }) as string[];
    const newer = entries.filter((f) => f.endsWith(".ts") && statSync(join(dirname(srcDir), f)).mtimeMs > built + 1000);
    if (newer.length > 0) {
      process.emitWarning(
        `lgpo: ${script} is older than its sources (${newer.slice(0, 3).join(", ")}); run npm run build:ts`,
      );
    }
  } catch {
    // best effort
  }
}

/**
 * A pool of workers running `script`. The worker posts {@link WORKER_READY} once its script has
 * loaded, then receives `{ id, request }` messages and answers `{ id, ok: true, value }` or
 * `{ id, ok: false, message }`. A task's timeout runs from its dispatch to a loaded worker.
 */
export class WorkerPool<Q, R> {
  private readonly script: string;
  private readonly size: number;
  private readonly timeoutMs: number;
  private readonly memoryMb: number;
  private readonly workerData: unknown;
  private readonly slots: Slot<Q, R>[] = [];
  private readonly queue: Pending<Q, R>[] = [];
  private nextId = 1;
  private closed = false;
  private readonly counters: PoolStats = { tasks: 0, timeouts: 0, errors: 0, workersStarted: 0 };

  constructor(script: string, options: WorkerPoolOptions = {}) {
    this.script = script;
    this.size = Math.max(1, options.size ?? Math.min(4, availableParallelism()));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.memoryMb = options.memoryMb ?? 512;
    this.workerData = options.workerData;
  }

  /** Runs one task; never rejects. `timeoutMs` overrides the pool's default for this task. */
  run(request: Q, timeoutMs?: number): Promise<TaskOutcome<R>> {
    if (this.closed) return Promise.resolve({ ok: false, reason: "error", message: "pool is closed", ms: 0 });
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, request, timeoutMs: timeoutMs ?? this.timeoutMs, resolve });
      this.pump();
    });
  }

  /** Counters since creation. */
  stats(): PoolStats {
    return { ...this.counters };
  }

  /** Terminates all workers; queued tasks resolve as errors. */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.queue.splice(0)) t.resolve({ ok: false, reason: "error", message: "pool closed", ms: 0 });
    const slots = this.slots.splice(0);
    for (const s of slots) {
      if (s.busy) {
        clearTimeout(s.busy.timer);
        s.busy.task.resolve({ ok: false, reason: "error", message: "pool closed", ms: Date.now() - s.busy.started });
      }
      clearTimeout(s.startup);
    }
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
  }

  private spawn(): Slot<Q, R> {
    const worker = new Worker(this.script, {
      resourceLimits: { maxOldGenerationSizeMb: this.memoryMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 8 },
      workerData: this.workerData,
      stdout: false,
      stderr: false,
    });
    worker.unref();
    this.counters.workersStarted++;
    const slot: Slot<Q, R> = { worker, ready: true, loaded: false };
    slot.startup = setTimeout(() => {
      fail(`worker did not load within ${STARTUP_TIMEOUT_MS} ms`);
      void worker.terminate().catch(() => 0);
    }, STARTUP_TIMEOUT_MS);
    slot.startup.unref();
    worker.on("message", (msg: { id: number; ok: boolean; value?: R; message?: string; ready?: boolean }) => {
      if (msg.ready === true) {
        clearTimeout(slot.startup);
        slot.loaded = true;
        this.pump();
        return;
      }
      const busy = slot.busy;
      if (!busy || busy.task.id !== msg.id) return;
      clearTimeout(busy.timer);
      slot.busy = undefined;
      const ms = Date.now() - busy.started;
      if (msg.ok) busy.task.resolve({ ok: true, value: msg.value as R, ms });
      else {
        this.counters.errors++;
        busy.task.resolve({ ok: false, reason: "error", message: msg.message ?? "worker error", ms });
      }
      this.pump();
    });
    const fail = (message: string) => {
      if (!slot.ready) return;
      slot.ready = false;
      clearTimeout(slot.startup);
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      // A worker that dies while busy fails its task; one that dies before loading fails the
      // oldest queued task, so a script that cannot load fails tasks instead of respawning forever.
      const busy = slot.busy;
      const task = busy?.task ?? (slot.loaded ? undefined : this.queue.shift());
      if (busy) clearTimeout(busy.timer);
      slot.busy = undefined;
      if (task) {
        this.counters.errors++;
        task.resolve({ ok: false, reason: "error", message, ms: busy ? Date.now() - busy.started : 0 });
      }
      this.pump();
    };
    worker.on("error", (e) => fail(`worker failed: ${e instanceof Error ? e.message : String(e)}`));
    worker.on("exit", (code) => fail(`worker exited with code ${code}`));
    this.slots.push(slot);
    return slot;
  }

  private pump(): void {
    if (this.closed) return;
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => s.ready && s.loaded && !s.busy);
      if (!slot) {
        // Start a worker if there is room; the task is dispatched once it has loaded.
        const starting = this.slots.filter((s) => s.ready && !s.loaded).length;
        if (this.slots.length < this.size && starting < this.queue.length) this.spawn();
        return;
      }
      const task = this.queue.shift()!;
      const started = Date.now();
      const timer = setTimeout(() => this.onTimeout(slot!), task.timeoutMs);
      slot.busy = { task, timer, started };
      slot.worker.postMessage({ id: task.id, request: task.request });
      this.counters.tasks++;
    }
  }

  private onTimeout(slot: Slot<Q, R>): void {
    const busy = slot.busy;
    if (!busy) return;
    slot.busy = undefined;
    slot.ready = false;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    this.counters.timeouts++;
    busy.task.resolve({
      ok: false,
      reason: "timeout",
      message: `no result within ${busy.task.timeoutMs} ms`,
      ms: Date.now() - busy.started,
    });
    void slot.worker.terminate().catch(() => 0);
    this.pump();
  }
}
