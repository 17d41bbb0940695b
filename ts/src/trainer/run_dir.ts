/**
 * The run directory's files other than checkpoints (docs/run-directory.md): the resolved config,
 * metrics.jsonl, samples.jsonl, TensorBoard events and summary.json.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, configToYaml } from "../config/load.js";
import type { TrainConfig } from "../config/schema.js";
import { appendJsonl, truncateJsonlAfterStep } from "../logging/jsonl.js";
import { TensorBoardWriter, truncateEventsAfterStep } from "../logging/tensorboard.js";

/** Writes `text` to `path` through a temporary file renamed into place. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** The default run directory: runs/<UTC date-time>-<label> (the objective, or `sft`). */
export function defaultRunDir(label: string, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "")
    .replace("T", "-");
  return join("runs", `${stamp}-${label}`);
}

/** Appends lines and scalars to a run directory's logs. */
export class RunLogs {
  private readonly tensorboard: TensorBoardWriter | undefined;

  private constructor(
    readonly dir: string,
    tensorboard: boolean,
  ) {
    this.tensorboard = tensorboard ? new TensorBoardWriter(dir) : undefined;
  }

  /**
   * Opens the logs of `dir`, writing the resolved config. On resume, lines and TensorBoard events
   * after the checkpoint's step are dropped first (they belong to steps that will be run again).
   */
  static open(dir: string, config: TrainConfig, resumeStep: number | undefined): RunLogs {
    mkdirSync(dir, { recursive: true });
    if (resumeStep !== undefined) {
      truncateJsonlAfterStep(join(dir, "metrics.jsonl"), resumeStep);
      truncateJsonlAfterStep(join(dir, "samples.jsonl"), resumeStep);
      for (const f of readdirSync(dir).filter((n) => n.startsWith("events.out.tfevents.") && !n.includes(".tmp-"))) {
        truncateEventsAfterStep(join(dir, f), resumeStep);
      }
    }
    writeFileAtomic(join(dir, "config.yaml"), configToYaml(config));
    return new RunLogs(dir, config.logging.tensorboard);
  }

  /** A metrics line (training or eval): also written to TensorBoard. */
  metrics(line: Record<string, unknown> & { step: number }): void {
    appendJsonl(join(this.dir, "metrics.jsonl"), line);
    const { step, time: _time, ...scalars } = line;
    this.tensorboard?.scalars(step, scalars);
  }

  /** Sample lines of one step. */
  samples(lines: Record<string, unknown>[]): void {
    const path = join(this.dir, "samples.jsonl");
    for (const l of lines) appendJsonl(path, l);
  }

  /** summary.json. */
  summary(summary: unknown): void {
    writeFileAtomic(join(this.dir, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
  }
}

/** Whether `dir` already holds a run (so a new run must not start there). */
export function holdsRun(dir: string): boolean {
  return existsSync(join(dir, "metrics.jsonl")) || existsSync(join(dir, "checkpoints"));
}

/** The resolved config a run directory holds. */
export function runConfigText(dir: string): string {
  const path = join(dir, "config.yaml");
  if (!existsSync(path)) throw new ConfigError(`${dir} is not a run directory: it has no config.yaml`);
  return readFileSync(path, "utf8");
}
