/// <reference lib="dom" />
/**
 * Charts on the page with uPlot (loaded as a global by the page), their SVG and PNG exports.
 * uPlot draws on canvas: 100k points per series render in milliseconds, and the library is ~50 kB.
 */
import type uPlotType from "uplot";

import type { ChartSpec } from "../page_data.js";
import type { ChartModel } from "./chart_data.js";
import { download, el, fileStem } from "./dom.js";
import { chartSvg, constantText } from "./svg_export.js";

declare const uPlot: typeof uPlotType;

/** A chart on the page. */
export interface DrawnChart {
  spec: ChartSpec;
  box: HTMLElement;
  plot: uPlotType;
  model: ChartModel;
  /** Says so when the metric is one constant in every run (a flat line would look like data). */
  constantNote: HTMLElement;
}

const HEIGHT = 220;

/** `#rrggbb` with an alpha, as rgba(). */
function alpha(color: string, a: number): string {
  const n = Number.parseInt(color.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function options(model: ChartModel, width: number): uPlotType.Options {
  const bands: uPlotType.Band[] = [];
  model.series.forEach((s, i) => {
    if (s.role !== "max") return;
    const min = model.series.findIndex((m) => m.role === "min" && m.unit === s.unit);
    bands.push({ series: [i + 1, min + 1], fill: alpha(s.color, 0.15) });
  });
  return {
    width,
    height: HEIGHT,
    scales: { x: { time: false } },
    cursor: { sync: { key: "lgpo" } },
    series: [
      { label: model.xAxis === "step" ? "step" : "hours" },
      ...model.series.map((s) => ({
        label: s.label,
        stroke: s.role === "line" ? s.color : alpha(s.color, 0.35),
        width: s.role === "line" ? 1.5 : 0.5,
        spanGaps: true,
      })),
    ],
    bands,
    axes: [{}, { size: 56 }],
  };
}

function data(model: ChartModel): uPlotType.AlignedData {
  return [model.x, ...model.series.map((s) => s.values)] as uPlotType.AlignedData;
}

/** The chart as an SVG document, over the chart's current zoom. */
export function svgOf(chart: DrawnChart): string {
  const { x, y } = chart.plot.scales;
  return chartSvg({
    title: chart.spec.title + (chart.spec.key === chart.spec.title ? "" : ` (${chart.spec.key})`),
    model: chart.model,
    xRange: [x?.min ?? 0, x?.max ?? 1],
    yRange: [y?.min ?? 0, y?.max ?? 1],
    xLabel: chart.model.xAxis === "step" ? "step" : "wall-clock hours",
  });
}

/** The chart's SVG drawn on a canvas at twice its size (the PNG export). */
async function rasterise(chart: DrawnChart): Promise<HTMLCanvasElement> {
  const url = URL.createObjectURL(new Blob([svgOf(chart)], { type: "image/svg+xml" }));
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    const canvas = document.createElement("canvas");
    canvas.width = image.width * 2;
    canvas.height = image.height * 2;
    const ctx = canvas.getContext("2d")!;
    ctx.scale(2, 2);
    ctx.drawImage(image, 0, 0);
    return canvas;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The chart as a PNG data URL. */
export async function pngOf(chart: DrawnChart): Promise<string> {
  return (await rasterise(chart)).toDataURL("image/png");
}

/** Draws a chart into a new box appended to `parent`. */
export function createChart(parent: HTMLElement, spec: ChartSpec, model: ChartModel): DrawnChart {
  const svgButton = el("button", { type: "button", title: "download as SVG" }, "SVG");
  const pngButton = el("button", { type: "button", title: "download as PNG" }, "PNG");
  const title = el("h3", {}, spec.title, el("span", { class: "key" }, spec.key === spec.title ? "" : spec.key));
  const head = el("div", { class: "chart-head" }, title, el("span", { class: "exports" }, svgButton, pngButton));
  if (spec.note) head.append(el("div", { class: "note" }, spec.note));
  const constantNote = el("div", { class: "note constant" }, constantText(model));
  const box = el("div", { class: "chart", "data-key": spec.key }, head, constantNote);
  parent.append(box);
  const plot = new uPlot(options(model, chartWidth(box)), data(model), box);
  const chart: DrawnChart = { spec, box, plot, model, constantNote };
  // The band's edges keep their live values on hover but stay out of the legend.
  const rows = plot.root.querySelectorAll<HTMLElement>(".u-legend .u-series");
  model.series.forEach((s, i) => {
    if (s.role !== "line") rows[i + 1]?.style.setProperty("display", "none");
  });
  svgButton.addEventListener("click", () =>
    download(`${fileStem(spec.key)}.svg`, new Blob([svgOf(chart)], { type: "image/svg+xml" })),
  );
  pngButton.addEventListener("click", async () => {
    const canvas = await rasterise(chart);
    canvas.toBlob((blob) => blob && download(`${fileStem(spec.key)}.png`, blob), "image/png");
  });
  return chart;
}

/** Redraws a chart with new data of the same series; a chart the user zoomed into keeps its zoom. */
export function updateChart(chart: DrawnChart, model: ChartModel): void {
  const { min, max } = chart.plot.scales.x ?? {};
  const x = chart.model.x;
  const zoomed = min !== undefined && max !== undefined && (min > x[0]! || max < x[x.length - 1]!);
  chart.model = model;
  chart.constantNote.textContent = constantText(model);
  chart.plot.setData(data(model), !zoomed);
}

function chartWidth(box: HTMLElement): number {
  return Math.max(280, box.clientWidth - 16);
}

/** Fits every chart to its box (after a window resize). */
export function resizeCharts(charts: DrawnChart[]): void {
  for (const c of charts) c.plot.setSize({ width: chartWidth(c.box), height: HEIGHT });
}
