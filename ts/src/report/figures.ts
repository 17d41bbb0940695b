/**
 * Charts of run directories as standalone SVG files, for docs: the report page's own chart model
 * (seed groups as mean with a min..max band, EMA smoothing) and SVG export, run in Node.
 */
import { join } from "node:path";

import { readJsonlObjects } from "../logging/jsonl.js";
import { CHART_CATALOG } from "./catalog.js";
import { type ChartModel, chartModel, drawUnits } from "./client/chart_data.js";
import { RunSeries } from "./client/run_series.js";
import { chartSvg } from "./client/svg_export.js";
import { type PageOptions, pageData } from "./page_builder.js";
import { RUN_FILES } from "../logging/run_layout.js";

/** Options of `renderFigures`. */
export interface FigureOptions extends PageOptions {
  /** Metric keys, one figure each. */
  keys: string[];
  /** EMA weight for every figure (0: raw). */
  smoothing?: number;
}

/** One figure: its metric and SVG document. */
export interface Figure {
  key: string;
  svg: string;
}

/** A run's metrics.jsonl as the page's series (float32 columns, as the page holds them). */
function runSeries(dir: string): RunSeries {
  const lines = readJsonlObjects(join(dir, RUN_FILES.metrics));
  const keys = [...new Set(lines.flatMap((l) => Object.keys(l)))].filter((k) => k !== "time");
  const columns = new Map(
    keys.map((k) => [k, Float32Array.from(lines, (l) => (typeof l[k] === "number" ? (l[k] as number) : Number.NaN))]),
  );
  const run = new RunSeries();
  run.merge({ from: 0, lines: lines.length, t0: null, columns, reset: false });
  return run;
}

/** The y range of a model's values (bands included), padded by 5%. */
function valueRange(model: ChartModel): [number, number] {
  const values = model.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  if (values.length === 0) return [0, 1];
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.abs(hi) * 0.05 || 1;
  return [lo - pad, hi + pad];
}

/** The catalogue's title of `key`, else the key. */
function titleOf(key: string): string {
  for (const section of CHART_CATALOG) {
    const chart = section.charts?.find((c) => c.key === key);
    if (chart) return chart.title === key ? key : `${chart.title} (${key})`;
  }
  return key;
}

/** One SVG per key over `dirs`; a key no run has is an error naming it. */
export function renderFigures(dirs: string[], options: FigureOptions): Figure[] {
  const data = pageData("report", dirs, options);
  const runs = dirs.map(runSeries);
  const units = drawUnits(
    data.groups,
    data.runs.map((r) => r.name),
    options.seedBands ?? true,
  );
  return options.keys.map((key) => {
    if (!runs.some((r) => r.columns.has(key))) {
      throw new TypeError(`--metrics: no run has the metric \`${key}\``);
    }
    const model = chartModel(key, units, runs, "step", options.smoothing ?? 0);
    const smoothed = options.smoothing ? `, smoothed (EMA ${options.smoothing})` : "";
    return {
      key,
      svg: chartSvg({
        title: `${titleOf(key)}${smoothed}`,
        model,
        xRange: [model.x[0] ?? 0, model.x.at(-1) ?? 1],
        yRange: valueRange(model),
        xLabel: "step",
      }),
    };
  });
}

/** A file name for a metric key (`eval/countdown/avg@8` → `eval_countdown_avg_8`). */
export function figureStem(key: string): string {
  return key.replace(/[^A-Za-z0-9.-]+/g, "_");
}
