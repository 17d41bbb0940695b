/**
 * From run series to what a chart draws: which charts exist (the catalogue against the keys
 * present), and per chart the x values (steps or hours) and one series per drawn unit. A unit is a
 * single run, or a seed group drawn as its mean with a min..max band (over steps only: seeds do not
 * share clock times).
 */
import type { ChartSection, ChartSpec, PageGroup } from "../page_data.js";
import type { RunSeries } from "./run_series.js";

/** Colours of units, in order (Tableau 10: distinct, readable on white). */
export const PALETTE = [
  "#1f77b4",
  "#d62728",
  "#2ca02c",
  "#ff7f0e",
  "#9467bd",
  "#8c564b",
  "#e377c2",
  "#7f7f7f",
  "#bcbd22",
  "#17becf",
];

/** What one legend entry stands for: the runs it aggregates and its colour. */
export interface Unit {
  label: string;
  runs: number[];
  color: string;
}

/** A section of charts that have data. */
export interface ChartLayoutSection {
  title: string;
  charts: ChartSpec[];
}

/** A series of a chart: a unit's mean (or its only run), or the min / max edge of its band. */
export interface SeriesModel {
  label: string;
  /** Index of the unit it belongs to (pairs a band's edges with their line). */
  unit: number;
  color: string;
  role: "line" | "min" | "max";
  values: (number | null)[];
}

/** The data of one chart, aligned on `x`. */
export interface ChartModel {
  x: number[];
  series: SeriesModel[];
  /** What x is: rollout steps, or wall-clock hours since the run's first line. */
  xAxis: XAxis;
}

/** The x axis of the charts: steps (the paper's figures), or wall-clock hours (where a faster step shows). */
export type XAxis = "step" | "hours";

/** The units drawn: seed groups when `seedBands`, else every run on its own. */
export function drawUnits(groups: PageGroup[], runNames: string[], seedBands: boolean): Unit[] {
  if (seedBands) {
    return groups.map((g, i) => ({ label: g.label, runs: g.runs, color: PALETTE[i % PALETTE.length]! }));
  }
  return runNames.map((name, i) => ({ label: name, runs: [i], color: PALETTE[i % PALETTE.length]! }));
}

/** The catalogue's charts whose key some run has; prefix sections list their keys sorted, `rest` takes the others. */
export function layoutCharts(catalog: ChartSection[], keys: Set<string>, hidden: string[]): ChartLayoutSection[] {
  const claimed = new Set(hidden);
  for (const section of catalog) {
    for (const chart of section.charts ?? []) claimed.add(chart.key);
  }
  for (const section of catalog) {
    if (section.prefix !== undefined) for (const key of keys) if (key.startsWith(section.prefix)) claimed.add(key);
  }
  const out: ChartLayoutSection[] = [];
  for (const section of catalog) {
    let charts: ChartSpec[] = [];
    if (section.charts) charts = section.charts.filter((c) => keys.has(c.key));
    else if (section.prefix !== undefined) {
      const prefix = section.prefix;
      charts = [...keys]
        .filter((k) => k.startsWith(prefix))
        .sort()
        .map((key) => ({ key, title: key.slice(prefix.length) }));
    } else if (section.rest) {
      charts = [...keys]
        .filter((k) => !claimed.has(k))
        .sort()
        .map((key) => ({ key, title: key }));
    }
    if (charts.length > 0) out.push({ title: section.title, charts });
  }
  return out;
}

/** The x (step, or hours) at which a run has a value of `key`, ascending, and the values. */
function present(run: RunSeries, key: string, xAxis: XAxis): { xs: number[]; ys: number[] } {
  const values = run.columns.get(key);
  const times = run.columns.get("time");
  const xs: number[] = [];
  const ys: number[] = [];
  if (values === undefined || (xAxis === "hours" && times === undefined)) return { xs, ys };
  for (let row = 0; row < values.length; row++) {
    const v = values[row];
    const time = times?.[row];
    const x = xAxis === "step" ? run.steps[row]! : time === null || time === undefined ? null : time / 3600;
    if (v !== null && v !== undefined && x !== null) {
      xs.push(x);
      ys.push(v);
    }
  }
  // Steps are ascending; clock times too unless the clock stepped back: then sort.
  for (let i = 1; i < xs.length; i++) {
    if (xs[i]! <= xs[i - 1]!) {
      const order = xs.map((_, k) => k).sort((a, b) => xs[a]! - xs[b]!);
      return { xs: order.map((k) => xs[k]!), ys: order.map((k) => ys[k]!) };
    }
  }
  return { xs, ys };
}

/** Union of ascending arrays, ascending, without repeats. */
export function mergeSorted(arrays: number[][]): number[] {
  let out: number[] = arrays[0] ?? [];
  for (const next of arrays.slice(1)) {
    if (sameValues(out, next)) continue;
    const merged: number[] = [];
    let i = 0;
    let j = 0;
    while (i < out.length || j < next.length) {
      const a = out[i];
      const b = next[j];
      if (b === undefined || (a !== undefined && a < b)) merged.push(out[i++]!);
      else if (a === undefined || b < a) merged.push(next[j++]!);
      else {
        merged.push(a);
        i++;
        j++;
      }
    }
    out = merged;
  }
  return out;
}

function sameValues(a: number[], b: number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Values of one run aligned on `x` (which contains every step of `xs`). */
function align(x: number[], xs: number[], ys: number[]): (number | null)[] {
  const out: (number | null)[] = new Array(x.length).fill(null);
  let j = 0;
  for (let i = 0; i < x.length && j < xs.length; i++) {
    if (x[i] === xs[j]) out[i] = ys[j++]!;
  }
  return out;
}

/**
 * TensorBoard's smoothing: an exponential moving average with weight `weight` in [0, 1) on the
 * previous value, debiased at the start (divided by 1 - weight^n) so the first points are not
 * pulled toward 0. 0 returns the values as they are.
 */
export function smoothEma(ys: readonly number[], weight: number): number[] {
  if (!(weight > 0)) return [...ys];
  let last = 0;
  return ys.map((y, i) => {
    last = last * weight + (1 - weight) * y;
    return last / (1 - weight ** (i + 1));
  });
}

/** The one value every drawn line takes at every step, or null when some value differs (or none). */
export function constantValue(model: ChartModel): number | null {
  let value: number | null = null;
  for (const s of model.series) {
    if (s.role !== "line") continue;
    for (const v of s.values) {
      if (v === null) continue;
      if (value === null) value = v;
      else if (v !== value) return null;
    }
  }
  return value;
}

/**
 * The chart of `key`: x is every step where some drawn run has a value. A unit of one run draws
 * its values; a unit of several draws the mean over the runs that have a value at that step and
 * the min and max of those values (the band). `smoothing` (an EMA weight, `smoothEma`) applies to
 * each run before the seeds are aggregated.
 */
export function chartModel(
  key: string,
  units: Unit[],
  runs: RunSeries[],
  xAxis: XAxis = "step",
  smoothing = 0,
): ChartModel {
  const used = [...new Set(units.flatMap((u) => u.runs))];
  const points = new Map(
    used.map((r) => {
      const { xs, ys } = present(runs[r]!, key, xAxis);
      return [r, { xs, ys: smoothEma(ys, smoothing) }];
    }),
  );
  const x = mergeSorted(used.map((r) => points.get(r)!.xs));
  const series: SeriesModel[] = [];
  units.forEach((unit, u) => {
    const members = unit.runs.map((r) => {
      const { xs, ys } = points.get(r)!;
      return align(x, xs, ys);
    });
    const line = { label: unit.label, unit: u, color: unit.color, role: "line" as const };
    if (members.length === 1) {
      series.push({ ...line, values: members[0]! });
      return;
    }
    const mean: (number | null)[] = new Array(x.length).fill(null);
    const min: (number | null)[] = new Array(x.length).fill(null);
    const max: (number | null)[] = new Array(x.length).fill(null);
    for (let i = 0; i < x.length; i++) {
      let sum = 0;
      let n = 0;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (const values of members) {
        const v = values[i];
        if (v === null || v === undefined) continue;
        sum += v;
        n += 1;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (n === 0) continue;
      mean[i] = sum / n;
      min[i] = lo;
      max[i] = hi;
    }
    series.push({ ...line, values: mean });
    series.push({ label: `${unit.label} min`, unit: u, color: unit.color, role: "min", values: min });
    series.push({ label: `${unit.label} max`, unit: u, color: unit.color, role: "max", values: max });
  });
  return { x, series, xAxis };
}
