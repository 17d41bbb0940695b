/**
 * The run directory's files other than checkpoints (docs/run-directory.md): the resolved config,
 * metrics.jsonl, samples.jsonl, TensorBoard events and summary.json.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError, configToYaml } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { appendJsonl, truncateJsonlAfterStep } from "../logging/jsonl.js";
import { RUN_FILES, TENSORBOARD_PREFIX } from "../logging/run_layout.js";
import { TensorBoardWriter, truncateEventsAfterStep } from "../logging/tensorboard.js";
import { writeFileAtomic } from "../util/atomic_write.js";

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
    /** False for a data-parallel rank other than 0, which writes nothing. */
    private readonly writes = true,
  ) {
    this.tensorboard = tensorboard ? new TensorBoardWriter(dir) : undefined;
  }

  /** The logs of a data-parallel rank other than 0: rank 0 writes the run directory alone. */
  static ofOtherRank(dir: string): RunLogs {
    return new RunLogs(dir, false, false);
  }

  /**
   * Opens the logs of `dir`, writing the resolved config. On resume, lines and TensorBoard events
   * after the checkpoint's step are dropped first (they belong to steps that will be run again).
   */
  static open(dir: string, config: RunConfig, resumeStep: number | undefined): RunLogs {
    mkdirSync(dir, { recursive: true });
    if (resumeStep !== undefined) {
      truncateJsonlAfterStep(join(dir, RUN_FILES.metrics), resumeStep);
      truncateJsonlAfterStep(join(dir, RUN_FILES.samples), resumeStep);
      for (const f of readdirSync(dir).filter((n) => n.startsWith(TENSORBOARD_PREFIX) && !n.includes(".tmp-"))) {
        truncateEventsAfterStep(join(dir, f), resumeStep);
      }
    }
    writeFileAtomic(join(dir, RUN_FILES.config), configToYaml(config));
    return new RunLogs(dir, config.logging.tensorboard);
  }

  /** A metrics line (training or eval): also written to TensorBoard. */
  metrics(line: Record<string, unknown> & { step: number }): void {
    if (!this.writes) return;
    appendJsonl(join(this.dir, RUN_FILES.metrics), line);
    const { step, time: _time, ...scalars } = line;
    this.tensorboard?.scalars(step, scalars);
  }

  /** Sample lines of one step. */
  samples(lines: Record<string, unknown>[]): void {
    if (!this.writes) return;
    const path = join(this.dir, RUN_FILES.samples);
    for (const l of lines) appendJsonl(path, l);
  }

  /** summary.json. */
  summary(summary: unknown): void {
    if (!this.writes) return;
    writeFileAtomic(join(this.dir, RUN_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
  }
}

/** Whether `dir` already holds a run (so a new run must not start there). */
export function holdsRun(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.metrics)) || existsSync(join(dir, RUN_FILES.checkpoints));
}

/** The resolved config a run directory holds. */
export function runConfigText(dir: string): string {
  const path = join(dir, RUN_FILES.config);
  if (!existsSync(path)) throw new ConfigError(`${dir} is not a run directory: it has no config.yaml`);
  return readFileSync(path, "utf8");
}
