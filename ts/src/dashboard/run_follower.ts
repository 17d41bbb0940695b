/**
 * One run directory followed by the dashboard: its metrics.jsonl read incrementally into a table
 * (only the bytes appended since the last request are read), and its latest samples.
 */
import { RunDirError } from "../report/errors.js";
import { JsonlTail } from "../report/jsonl_tail.js";
import { MetricTable } from "../report/metric_table.js";
import type { EncodedLines, SampleLine } from "../report/page_data.js";
import { RUN_FILES } from "../logging/run_layout.js";
import { lastLines, runFile } from "./run_files.js";

/** Metrics lines as the dashboard sends them: with the generation of the file they come from. */
export interface FollowedLines extends EncodedLines {
  /** Increases when the file was replaced; a client holding another generation starts over. */
  generation: number;
}

export class RunFollower {
  private readonly table: MetricTable;
  private tail: JsonlTail | null = null;
  private generation = 0;
  /** A bad line stops the run's metrics for good: later lines cannot be placed without it. */
  private failure: Error | null = null;

  constructor(readonly dir: string) {
    this.table = new MetricTable(`${dir}/${RUN_FILES.metrics}`);
  }

  /** Lines from `from` on, after reading what was appended; a client of another generation gets all lines. */
  metrics(from: number, generation: number): FollowedLines {
    if (this.failure !== null) throw this.failure;
    const path = runFile(this.dir, RUN_FILES.metrics);
    if (path !== null) {
      try {
        this.readAppended(path);
      } catch (e) {
        this.failure = e as Error;
        throw e;
      }
    }
    const stale = generation !== this.generation;
    const encoded = this.table.encode(stale ? 0 : from);
    return { ...encoded, reset: stale, generation: this.generation };
  }

  private readAppended(path: string): void {
    this.tail ??= new JsonlTail(path);
    const chunk = this.tail.read();
    if (chunk.reset) {
      this.table.clear();
      this.generation += 1;
    }
    this.table.append(chunk.lines);
  }

  /** The last `limit` lines of samples.jsonl (none when the run has none yet). */
  samples(limit: number): SampleLine[] {
    const path = runFile(this.dir, RUN_FILES.samples);
    if (path === null) return [];
    return lastLines(path, limit).map((line) => {
      try {
        return JSON.parse(line) as SampleLine;
      } catch {
        throw new RunDirError(`${path}: a line is not valid JSON`);
      }
    });
  }
}
