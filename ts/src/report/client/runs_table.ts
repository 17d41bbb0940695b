/// <reference lib="dom" />
/**
 * The table under the title (like the paper's Table 1): one row per run with its config values
 * where the runs differ, steps done, wall time, mean step time and final eval scores; seed
 * groups add a row of mean ± standard deviation over their seeds.
 */
import type { ConfigDiff } from "../page_data.js";
import type { Unit } from "./chart_data.js";
import { el } from "./dom.js";
import type { RunSeries } from "./run_series.js";
import { formatNumber } from "./svg_export.js";

/** Mean and (population) standard deviation. */
function meanStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
  return { mean, std: Math.sqrt(variance) };
}

function hours(seconds: number | undefined): string {
  if (seconds === undefined) return "";
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}`;
}

function meanOf(run: RunSeries, key: string): number | undefined {
  const values = (run.columns.get(key) ?? []).filter((v): v is number => v !== null);
  return values.length === 0 ? undefined : meanStd(values).mean;
}

/** The summary numbers of one run, by column name. */
function runFigures(run: RunSeries, evalKeys: string[]): Map<string, number | undefined> {
  const figures = new Map<string, number | undefined>();
  figures.set("steps", run.steps[run.steps.length - 1]);
  figures.set("wall", run.last("time")?.value);
  figures.set("step_s", meanOf(run, "time/step_s"));
  for (const key of evalKeys) figures.set(key, run.last(key)?.value);
  return figures;
}

/** Builds the table for the current data. */
export function runsTable(names: string[], runs: RunSeries[], units: Unit[], diff: ConfigDiff): HTMLTableElement {
  const evalKeys = [...new Set(runs.flatMap((r) => [...r.columns.keys()]))].filter((k) => k.startsWith("eval/")).sort();
  const figureColumns = ["steps", "wall", "step_s", ...evalKeys];
  const headers = [
    "run",
    ...diff.keys,
    "steps",
    "wall time (h:mm)",
    "mean step (s)",
    ...evalKeys.map((k) => `final ${k.slice(5)}`),
  ];
  const table = el("table", { class: "runs" }, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))));
  const body = el("tbody");
  const figures = runs.map((run) => runFigures(run, evalKeys));
  const cell = (column: string, v: number | undefined) =>
    el("td", { class: "num" }, v === undefined ? "" : column === "wall" ? hours(v) : formatNumber(v));
  units.forEach((unit) => {
    for (const r of unit.runs) {
      const swatch = el("span", { class: "swatch", style: `background:${unit.color}` });
      const values = diff.values[r] ?? [];
      body.append(
        el(
          "tr",
          {},
          el("td", { title: names[r] ?? "" }, swatch, names[r] ?? ""),
          ...diff.keys.map((_, k) => el("td", {}, values[k] ?? "")),
          ...figureColumns.map((c) => cell(c, figures[r]!.get(c))),
        ),
      );
    }
    if (unit.runs.length < 2) return;
    const stats = figureColumns.map((column) => {
      const values = unit.runs.map((r) => figures[r]!.get(column)).filter((v): v is number => v !== undefined);
      if (values.length === 0 || column === "steps" || column === "wall") return el("td");
      const { mean, std } = meanStd(values);
      return el("td", { class: "num" }, `${formatNumber(mean)} ± ${formatNumber(std)}`);
    });
    body.append(
      el(
        "tr",
        { class: "group-row" },
        el("td", {}, el("span", { class: "swatch", style: `background:${unit.color}` }), `${unit.label}: mean ± std`),
        ...diff.keys.map(() => el("td")),
        ...stats,
      ),
    );
  });
  table.append(body);
  return table;
}
