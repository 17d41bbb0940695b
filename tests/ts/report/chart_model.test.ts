/** The page's chart data: layout from the catalogue, seed-group aggregation, SVG export helpers. */
import { describe, expect, it } from "vitest";

import { CHART_CATALOG, HIDDEN_KEYS } from "../../../ts/src/report/catalog.js";
import {
  chartModel,
  constantValue,
  drawUnits,
  layoutCharts,
  mergeSorted,
  smoothEma,
} from "../../../ts/src/report/client/chart_data.js";
import { RunSeries } from "../../../ts/src/report/client/run_series.js";
import { chartSvg, decimate, niceTicks } from "../../../ts/src/report/client/svg_export.js";
import { mulberry32 } from "../../../ts/src/util/random.js";

/** A RunSeries holding `key` at the given steps (values as float32, like the page's data). */
function series(key: string, points: [number, number | null][]): RunSeries {
  const run = new RunSeries();
  const columns = new Map([
    ["step", Float32Array.from(points.map(([s]) => s))],
    [key, Float32Array.from(points.map(([, v]) => v ?? Number.NaN))],
  ]);
  run.merge({ from: 0, lines: points.length, t0: null, columns, reset: false });
  return run;
}

describe("layoutCharts", () => {
  it("keeps catalogue order, lists eval keys per benchmark, and puts unknown keys last", () => {
    const keys = new Set(["step", "time", "loss", "reward/mean", "eval/b/greedy", "eval/a/avg@8", "custom/x"]);
    const sections = layoutCharts(CHART_CATALOG, keys, HIDDEN_KEYS);
    expect(sections.map((s) => [s.title, s.charts.map((c) => c.key)])).toEqual([
      ["Reward", ["reward/mean"]],
      ["Evaluation", ["eval/a/avg@8", "eval/b/greedy"]],
      ["Optimisation", ["loss"]],
      ["Other metrics", ["custom/x"]],
    ]);
  });
});

describe("chartModel", () => {
  it("draws a seed group as the mean over the seeds present at each step with a min..max band", () => {
    const rand = mulberry32(3);
    const runs = [0, 1, 2].map(() =>
      series(
        "k",
        Array.from({ length: 30 }, (_, s) => [s, rand() < 0.2 ? null : rand()] as [number, number | null]),
      ),
    );
    runs.push(series("k", [[100, 5]]));
    const units = drawUnits(
      [
        { label: "g", runs: [0, 1, 2] },
        { label: "h", runs: [3] },
      ],
      ["a", "b", "c", "d"],
      true,
    );
    const model = chartModel("k", units, runs);
    expect(model.series.map((s) => [s.label, s.role])).toEqual([
      ["g", "line"],
      ["g min", "min"],
      ["g max", "max"],
      ["h", "line"],
    ]);
    // reference: a plain loop over steps and seeds
    const steps = [...new Set(runs.flatMap((r) => r.steps.filter((s) => r.at("k", s) !== null)))].sort((a, b) => a - b);
    expect(model.x).toEqual(steps);
    model.x.forEach((step, i) => {
      const values = runs
        .slice(0, 3)
        .map((r) => r.at("k", step))
        .filter((v): v is number => v !== null);
      const mean = values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      if (mean === null) expect(model.series[0]!.values[i]).toBeNull();
      else expect(model.series[0]!.values[i]).toBeCloseTo(mean, 12);
      expect(model.series[1]!.values[i]).toBe(values.length ? Math.min(...values) : null);
      expect(model.series[2]!.values[i]).toBe(values.length ? Math.max(...values) : null);
      expect(model.series[3]!.values[i]).toBe(step === 100 ? 5 : null);
    });
  });

  it("draws every run on its own when seed bands are off", () => {
    const runs = [series("k", [[1, 1]]), series("k", [[2, 2]])];
    const model = chartModel("k", drawUnits([{ label: "g", runs: [0, 1] }], ["a", "b"], false), runs);
    expect(model.x).toEqual([1, 2]);
    expect(model.series.map((s) => [s.label, s.values])).toEqual([
      ["a", [1, null]],
      ["b", [null, 2]],
    ]);
  });

  it("puts wall-clock hours on x when asked, skipping lines without a time", () => {
    const run = new RunSeries();
    const columns = new Map([
      ["step", Float32Array.from([1, 2, 3])],
      ["time", Float32Array.from([0, Number.NaN, 7200])],
      ["k", Float32Array.from([5, 6, 7])],
    ]);
    run.merge({ from: 0, lines: 3, t0: 1e9, columns, reset: false });
    const model = chartModel("k", drawUnits([{ label: "a", runs: [0] }], ["a"], true), [run], "hours");
    expect(model).toMatchObject({ x: [0, 2], xAxis: "hours" });
    expect(model.series[0]!.values).toEqual([5, 7]);
  });

  it("merges sorted step lists without repeats", () => {
    expect(mergeSorted([[1, 3, 5], [2, 3, 6], [], [0]])).toEqual([0, 1, 2, 3, 5, 6]);
  });
});

describe("smoothing and constant charts", () => {
  it("smooths as TensorBoard's debiased EMA, per run before the seeds are averaged", () => {
    // The recursion written out by hand: e_n = w e_(n-1) + (1 - w) y_n, shown as e_n / (1 - w^n).
    const ys = [4, 0, 8];
    const w = 0.5;
    const e1 = (1 - w) * 4;
    const e2 = e1 * w + (1 - w) * 0;
    const e3 = e2 * w + (1 - w) * 8;
    expect(smoothEma(ys, w)).toEqual([e1 / (1 - w), e2 / (1 - w ** 2), e3 / (1 - w ** 3)]);
    expect(smoothEma(ys, 0)).toEqual(ys);
    const runs = [
      series("k", [
        [1, 4],
        [2, 0],
        [3, 8],
      ]),
      series("k", [
        [1, 0],
        [2, 0],
        [3, 0],
      ]),
    ];
    const model = chartModel("k", drawUnits([{ label: "g", runs: [0, 1] }], ["a", "b"], true), runs, "step", w);
    const mean = model.series.find((s) => s.role === "line")!.values;
    expect(mean).toEqual(smoothEma(ys, w).map((v) => v / 2));
    expect(model.series.find((s) => s.role === "max")!.values).toEqual(smoothEma(ys, w));
  });

  it("says when every drawn value is one constant, and writes it into the SVG", () => {
    const flat = [
      series("clip", [
        [1, 0],
        [2, 0],
      ]),
      series("clip", [
        [1, 0],
        [3, 0],
      ]),
    ];
    const units = drawUnits([], ["a", "b"], false);
    const model = chartModel("clip", units, flat);
    expect(constantValue(model)).toBe(0);
    const svg = chartSvg({ title: "clip", model, xRange: [1, 3], yRange: [-1, 1], xLabel: "step" });
    expect(svg).toContain("constant: 0 at every step of every run drawn");
    const moving = chartModel("clip", units, [
      series("clip", [
        [1, 0],
        [2, 0.5],
      ]),
      flat[1]!,
    ]);
    expect(constantValue(moving)).toBeNull();
    expect(chartSvg({ title: "clip", model: moving, xRange: [1, 3], yRange: [-1, 1], xLabel: "step" })).not.toContain(
      "constant:",
    );
  });
});

describe("SVG export", () => {
  it("picks round ticks inside the range", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 5)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(-0.013, 0.021, 4)).toEqual([-0.01, 0, 0.01, 0.02]);
  });

  it("decimates a long series to a few points per pixel column keeping each column's extremes", () => {
    const rand = mulberry32(9);
    const n = 100_000;
    const x = Array.from({ length: n }, (_, i) => i);
    const values = x.map(() => rand());
    const px = (v: number) => (v / n) * 500;
    const points = decimate(x, values, px, (v) => v * 100);
    expect(points.length).toBeLessThanOrEqual(501 * 4);
    for (const column of [0, 137, 499]) {
      const inColumn = x.filter((i) => Math.round(px(i)) === column).map((i) => values[i]! * 100);
      const kept = points.filter(([cx]) => Math.round(cx) === column).map(([, cy]) => cy);
      expect(Math.min(...kept)).toBe(Math.min(...inColumn));
      expect(Math.max(...kept)).toBe(Math.max(...inColumn));
    }
  });

  it("writes a path per line series, a band per group and a legend", () => {
    const runs = [
      series("k", [
        [0, 1],
        [1, 2],
      ]),
      series("k", [
        [0, 3],
        [1, 4],
      ]),
      series("k", [[0, 0]]),
    ];
    const units = drawUnits(
      [
        { label: "lgpo (2 seeds)", runs: [0, 1] },
        { label: "grpo <&>", runs: [2] },
      ],
      ["a", "b", "c"],
      true,
    );
    const svg = chartSvg({
      title: "reward",
      model: chartModel("k", units, runs),
      xRange: [0, 1],
      yRange: [0, 4],
      xLabel: "step",
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<path d="M[^"]*" stroke=/g)).toHaveLength(2);
    expect(svg.match(/fill-opacity="0.15"/g)).toHaveLength(1);
    expect(svg).toContain("lgpo (2 seeds)");
    expect(svg).toContain("grpo &#60;&#38;&#62;");
  });
});
