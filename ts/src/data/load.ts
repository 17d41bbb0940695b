/**
 * Loading the tasks a config names: the training source (a dataset file or the Countdown
 * generator) and each eval benchmark's fixed list of problems. Everything is read and checked
 * before training starts, so a bad file fails with its name and line, not at step 100.
 */
import type { RunConfig } from "../config/schema.js";
import { readSourcedRecords } from "./records.js";
import { resolveDatasetFiles } from "./sources.js";
import {
  countdownKey,
  type GeneratorRanges,
  GeneratorSource,
  generatedCountdownTask,
  ListSource,
  type TaskSource,
} from "./prompt_stream.js";
import { type MathFields, recordsToTasks, type Task } from "./tasks.js";

/** Tasks read from a dataset setting, and how many malformed records were skipped. */
export interface LoadedTasks {
  tasks: Task[];
  skipped: number;
  firstProblem?: string;
}

/** Reads every file of a dataset setting into tasks. */
export async function loadDatasetTasks(
  spec: string,
  task: Task["kind"],
  options: { fields?: MathFields; badLines?: "error" | "skip"; split?: string; limit?: number | null } = {},
): Promise<LoadedTasks> {
  const fields = options.fields ?? { problem: null, answer: null };
  const badLines = options.badLines ?? "error";
  const files = await resolveDatasetFiles(spec, { ...(options.split ? { split: options.split } : {}) });
  const tasks: Task[] = [];
  let skipped = 0;
  let firstProblem: string | undefined;
  for (const file of files) {
    const records = await readSourcedRecords(file, badLines);
    const result = recordsToTasks(records.records, task, fields, badLines);
    tasks.push(...result.tasks);
    skipped += records.skipped + result.skipped;
    firstProblem ??= records.firstProblem ?? result.firstProblem;
  }
  const limited = options.limit != null ? tasks.slice(0, options.limit) : tasks;
  return { tasks: limited, skipped, ...(firstProblem ? { firstProblem } : {}) };
}

/** The held-out Countdown tasks of benchmark `name`: a fixed list from streams that training never uses. */
export function heldOutCountdownTasks(name: string, count: number, ranges: GeneratorRanges): Task[] {
  return Array.from({ length: count }, (_, i) => generatedCountdownTask(`eval:${name}:${i}`, ranges));
}

/** Default size of a generated held-out Countdown benchmark. */
export const HELD_OUT_SIZE = 200;

/** One benchmark's problems. */
export interface BenchmarkTasks {
  name: string;
  tasks: Task[];
}

/** Problems of every configured benchmark. */
export async function loadBenchmarks(config: RunConfig): Promise<BenchmarkTasks[]> {
  const out: BenchmarkTasks[] = [];
  for (const b of config.eval.benchmarks) {
    const tasks =
      b.dataset === null
        ? b.task === "countdown"
          ? heldOutCountdownTasks(b.name, b.limit ?? HELD_OUT_SIZE, config.data.generator)
          : failNoDataset(b.name)
        : (await loadDatasetTasks(b.dataset, b.task, { fields: config.data.fields, limit: b.limit })).tasks;
    out.push({ name: b.name, tasks });
  }
  return out;
}

function failNoDataset(name: string): never {
  throw new Error(`eval.benchmarks \`${name}\`: a math benchmark needs a dataset`);
}

/** The training source of a config, and the count of malformed records skipped. */
export async function loadTrainSource(
  config: RunConfig,
  benchmarks: readonly BenchmarkTasks[],
): Promise<{ source: TaskSource; skipped: number; firstProblem?: string }> {
  const d = config.data;
  if (d.dataset === null) {
    if (d.task !== "countdown") throw new Error("data.dataset is required for the math task");
    const heldOut = new Set(
      benchmarks.flatMap((b) => b.tasks).flatMap((t) => (t.kind === "countdown" ? [countdownKey(t)] : [])),
    );
    return { source: new GeneratorSource(d.limit ?? d.generator.size, config.seed, d.generator, heldOut), skipped: 0 };
  }
  const loaded = await loadDatasetTasks(d.dataset, d.task, {
    fields: d.fields,
    badLines: d.bad_lines,
    split: d.split,
    limit: d.limit,
  });
  return {
    source: new ListSource(loaded.tasks, config.seed, d.shuffle),
    skipped: loaded.skipped,
    ...(loaded.firstProblem ? { firstProblem: loaded.firstProblem } : {}),
  };
}
