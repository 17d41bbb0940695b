/**
 * One run's metrics as the page holds them: one row per step (a training line and the eval line
 * of the same step share a row; a step logged again, after a resume, takes the newer values),
 * rows sorted by step, one value array per key with null for "no value at this step".
 */
import type { DecodedLines } from "./decode.js";

export class RunSeries {
  /** Steps of the rows, ascending. */
  readonly steps: number[] = [];
  /** Values per key, aligned with `steps`. */
  readonly columns = new Map<string, (number | null)[]>();
  /** Lines of metrics.jsonl merged so far (the dashboard asks for lines after these). */
  linesSeen = 0;
  /** Dashboard: the generation of the metrics file the lines come from (-1 before the first answer). */
  generation = -1;
  /** Unix time of the first line. */
  t0: number | null = null;
  private readonly rowOfStep = new Map<number, number>();

  /** Merges decoded lines; a `reset` drops the rows held before. */
  merge(decoded: DecodedLines): void {
    if (decoded.reset) this.clear();
    if (this.t0 === null) this.t0 = decoded.t0;
    const stepColumn = decoded.columns.get("step");
    if (stepColumn === undefined) return;
    const entries = [...decoded.columns].filter(([key]) => key !== "step");
    if (this.appendRows(decoded, stepColumn, entries)) {
      this.linesSeen = decoded.from + decoded.lines;
      return;
    }
    for (let i = 0; i < decoded.lines; i++) {
      const row = this.rowFor(stepColumn[i]!);
      for (const [key, values] of entries) {
        const v = values[i]!;
        if (!Number.isNaN(v)) this.column(key)[row] = v;
      }
    }
    this.linesSeen = decoded.from + decoded.lines;
  }

  /**
   * The common case, fast: every line a new step, in increasing order (a run's file read from the
   * start, or the lines appended since the last poll). Columns are extended in one pass per key.
   */
  private appendRows(decoded: DecodedLines, stepColumn: Float32Array, entries: [string, Float32Array][]): boolean {
    const n = decoded.lines;
    let previous = this.steps[this.steps.length - 1] ?? Number.NEGATIVE_INFINITY;
    for (let i = 0; i < n; i++) {
      if (!(stepColumn[i]! > previous)) return false;
      previous = stepColumn[i]!;
    }
    const start = this.steps.length;
    for (let i = 0; i < n; i++) {
      this.steps.push(stepColumn[i]!);
      this.rowOfStep.set(stepColumn[i]!, start + i);
    }
    for (const [key, values] of entries) {
      const column = this.column(key, start);
      for (let i = 0; i < n; i++) {
        const v = values[i]!;
        column.push(Number.isNaN(v) ? null : v);
      }
    }
    for (const column of this.columns.values()) while (column.length < start + n) column.push(null);
    return true;
  }

  /** The value of `key` at `step`, or null. */
  at(key: string, step: number): number | null {
    const row = this.rowOfStep.get(step);
    return row === undefined ? null : (this.columns.get(key)?.[row] ?? null);
  }

  /** The last non-null value of `key` and its step. */
  last(key: string): { step: number; value: number } | null {
    const values = this.columns.get(key);
    if (values === undefined) return null;
    for (let row = values.length - 1; row >= 0; row--) {
      const value = values[row];
      if (value !== null && value !== undefined) return { step: this.steps[row]!, value };
    }
    return null;
  }

  private clear(): void {
    this.steps.length = 0;
    this.columns.clear();
    this.rowOfStep.clear();
    this.linesSeen = 0;
    this.t0 = null;
  }

  /** The values of `key`, created with `rows` nulls when new (default: one per step). */
  private column(key: string, rows = this.steps.length): (number | null)[] {
    let values = this.columns.get(key);
    if (values === undefined) {
      values = new Array<number | null>(rows).fill(null);
      this.columns.set(key, values);
    }
    return values;
  }

  private rowFor(step: number): number {
    const known = this.rowOfStep.get(step);
    if (known !== undefined) return known;
    const last = this.steps[this.steps.length - 1];
    if (last === undefined || step > last) {
      this.steps.push(step);
      for (const values of this.columns.values()) values.push(null);
      this.rowOfStep.set(step, this.steps.length - 1);
      return this.steps.length - 1;
    }
    // A step older than the newest (rare: lines out of order): insert in place and re-index.
    let row = 0;
    while (this.steps[row]! < step) row++;
    this.steps.splice(row, 0, step);
    for (const values of this.columns.values()) values.splice(row, 0, null);
    this.rowOfStep.clear();
    this.steps.forEach((s, r) => {
      this.rowOfStep.set(s, r);
    });
    return row;
  }
}
