/**
 * The lines of a metrics.jsonl as columns (one per key, NaN where a line has no value), and their
 * compact encoding for the page: Float32 columns, byte-shuffled, gzip, base64. Float32 keeps 7
 * significant digits, plenty for a chart; the shuffle (all first bytes of the floats, then all
 * second bytes, ...) puts the slowly varying sign/exponent bytes together, and gzip then packs a
 * 100k-step run a third smaller than without it. `time` is stored relative to the run's first line
 * so that it keeps millisecond precision.
 */
import { gzipSync } from "node:zlib";

import { RunDirError } from "./errors.js";
import type { JsonlLine } from "./jsonl_tail.js";
import type { EncodedLines } from "./page_data.js";

/** The metrics lines of one run, in file order, as columns. */
export class MetricTable {
  /** One column per key, `capacity` long, NaN where a line has no value. */
  private readonly columns = new Map<string, Float64Array>();
  private capacity = 1024;
  private count = 0;
  /** Unix time of the first line (seconds), the origin of the `time` column; null before any line. */
  t0: number | null = null;

  constructor(readonly file: string) {}

  /** Number of lines held. */
  get length(): number {
    return this.count;
  }

  /** The keys seen so far, in order of first appearance. */
  get keys(): string[] {
    return [...this.columns.keys()];
  }

  /** Appends lines; a line without an integer `step`, or with a value that is not a number or null, is an error naming its file, line and key. */
  append(lines: JsonlLine[]): void {
    for (const { line, value } of lines) {
      const step = value.step;
      if (typeof step !== "number" || !Number.isInteger(step) || step < 0) {
        throw new RunDirError(`${this.file}:${line}: "step" must be an integer >= 0, got ${JSON.stringify(step)}`);
      }
      for (const key in value) {
        const v = value[key];
        if (v !== null && (typeof v !== "number" || !Number.isFinite(v))) {
          throw new RunDirError(
            `${this.file}:${line}: "${key}" must be a finite number or null, got ${JSON.stringify(v)}`,
          );
        }
      }
      if (this.t0 === null && typeof value.time === "number") this.t0 = value.time;
      if (this.count === this.capacity) this.grow();
      const row = this.count++;
      for (const key in value) {
        const v = value[key] as number | null;
        if (v !== null) this.column(key)[row] = key === "time" ? v - (this.t0 ?? 0) : v;
      }
    }
  }

  /** Drops every line (the file was replaced). */
  clear(): void {
    this.columns.clear();
    this.count = 0;
    this.t0 = null;
  }

  /** The value of `key` at line `row` (NaN when absent). */
  value(key: string, row: number): number {
    return row < this.count ? (this.columns.get(key)?.[row] ?? Number.NaN) : Number.NaN;
  }

  /** Lines `from`..end encoded for the page. */
  encode(from = 0): EncodedLines {
    const start = Math.min(Math.max(from, 0), this.count);
    const n = this.count - start;
    const keys = this.keys;
    const flat = new Float32Array(n * keys.length);
    keys.forEach((key, k) => {
      flat.set(this.columns.get(key)!.subarray(start, this.count), k * n);
    });
    const bytes = gzipSync(shuffleBytes(new Uint8Array(flat.buffer)), { level: 6 });
    return { from: start, lines: n, keys, t0: this.t0, data: bytes.toString("base64") };
  }

  private column(key: string): Float64Array {
    let column = this.columns.get(key);
    if (column === undefined) {
      column = new Float64Array(this.capacity).fill(Number.NaN);
      this.columns.set(key, column);
    }
    return column;
  }

  private grow(): void {
    this.capacity *= 2;
    for (const [key, column] of this.columns) {
      const grown = new Float64Array(this.capacity).fill(Number.NaN);
      grown.set(column);
      this.columns.set(key, grown);
    }
  }
}

/** Byte `b` of float `i` moves to `b * count + i`: the inverse of the page's `unshuffleBytes`. */
export function shuffleBytes(bytes: Uint8Array): Uint8Array {
  const count = bytes.length / 4;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < count; i++) {
    for (let b = 0; b < 4; b++) out[b * count + i] = bytes[i * 4 + b]!;
  }
  return out;
}
