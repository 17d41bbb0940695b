/**
 * The stream of training tasks: a dataset in a seeded order per epoch (or the seeded Countdown
 * generator), read through a cursor (epoch, index) that a checkpoint saves, so a resumed run
 * draws exactly the prompts the uninterrupted run would have drawn.
 */
import { generateCountdownTasks } from "./countdown_generator.js";
import type { CountdownTask, Task } from "./tasks.js";
import { hashSeed, mulberry32 } from "../util/random.js";

/** Where the next task is read: its epoch and its position in that epoch's order. */
export interface DataCursor {
  epoch: number;
  index: number;
}

/** Items (tasks, SFT examples) addressable by (epoch, position). */
export interface TaskSource<T = Task> {
  /** Items per epoch. */
  readonly size: number;
  /** The item at `position` of `epoch`'s order. */
  task(epoch: number, position: number): T;
}

/** A fixed list in a seeded order per epoch (identity order when `shuffle` is off). */
export class ListSource<T = Task> implements TaskSource<T> {
  private order: { epoch: number; perm: Uint32Array } | undefined;

  constructor(
    private readonly tasks: readonly T[],
    private readonly seed: number,
    private readonly shuffle: boolean,
  ) {}

  get size(): number {
    return this.tasks.length;
  }

  task(epoch: number, position: number): T {
    if (!this.shuffle) return this.tasks[position]!;
    if (this.order?.epoch !== epoch) this.order = { epoch, perm: permutation(this.tasks.length, this.seed, epoch) };
    return this.tasks[this.order.perm[position]!]!;
  }
}

/** A Fisher-Yates permutation of 0..n-1 from the (seed, epoch) stream. */
export function permutation(n: number, seed: number, epoch: number): Uint32Array {
  const perm = Uint32Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(hashSeed(`order:${seed}:${epoch}`));
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}

/** Ranges of generated Countdown tasks (`data.generator`). */
export interface GeneratorRanges {
  min_nums: number;
  max_nums: number;
  max_number: number;
  min_target: number;
  max_target: number;
}

/** A Countdown task's identity, to keep held-out tasks out of training. */
export function countdownKey(task: CountdownTask): string {
  return `${task.nums.join(",")}=${task.target}`;
}

/**
 * Seeded Countdown tasks: the task at (epoch, position) comes from its own random stream, so any
 * position can be produced without the ones before it. Tasks whose key is in `exclude` (held-out
 * eval tasks) are redrawn from the next stream.
 */
export class GeneratorSource implements TaskSource {
  constructor(
    readonly size: number,
    private readonly seed: number,
    private readonly ranges: GeneratorRanges,
    private readonly exclude: ReadonlySet<string> = new Set(),
  ) {}

  task(epoch: number, position: number): Task {
    for (let attempt = 0; ; attempt++) {
      const t = generatedCountdownTask(`train:${this.seed}:${epoch}:${position}:${attempt}`, this.ranges);
      if (!this.exclude.has(countdownKey(t)) || attempt > 100) return t;
    }
  }
}

/** One generated Countdown task from the named stream. */
export function generatedCountdownTask(stream: string, r: GeneratorRanges): CountdownTask {
  const [g] = generateCountdownTasks(1, {
    seed: hashSeed(stream),
    minNums: r.min_nums,
    maxNums: r.max_nums,
    maxNumber: r.max_number,
    minTarget: r.min_target,
    maxTarget: r.max_target,
  });
  return { kind: "countdown", target: g!.target, nums: g!.nums };
}

/** Reads items from a source in order, across epochs. */
export class PromptStream<T = Task> {
  private cursor: DataCursor;

  constructor(
    readonly source: TaskSource<T>,
    cursor: DataCursor = { epoch: 0, index: 0 },
  ) {
    if (source.size === 0) throw new Error("the training data has no tasks");
    this.cursor = { ...cursor };
  }

  /** The next `n` items. */
  take(n: number): T[] {
    const out: T[] = [];
    for (let k = 0; k < n; k++) {
      out.push(this.source.task(this.cursor.epoch, this.cursor.index));
      this.cursor.index++;
      if (this.cursor.index === this.source.size) this.cursor = { epoch: this.cursor.epoch + 1, index: 0 };
    }
    return out;
  }

  /** Where the next task will be read (what a checkpoint saves). */
  position(): DataCursor {
    return { ...this.cursor };
  }

  /** Passes over the data so far, fractional. */
  epochs(): number {
    return this.cursor.epoch + this.cursor.index / this.source.size;
  }
}
