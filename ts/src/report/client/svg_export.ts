/**
 * A chart as a standalone SVG document for docs: title, axes with ticks, one path per series (at
 * most a few points per pixel column, so that 100k-point series stay small), bands, legend.
 * Pure string building: the same function runs in the page and in unit tests.
 */
import { type ChartModel, constantValue } from "./chart_data.js";

/** What to draw and the visible ranges (the chart's current zoom). */
export interface SvgChart {
  title: string;
  model: ChartModel;
  xRange: [number, number];
  yRange: [number, number];
  xLabel: string;
  width?: number;
  height?: number;
}

/** Round tick positions covering [min, max], about `count` of them (steps of 1, 2 or 5 × 10^k). */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (max <= min) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Short number text for ticks and tables: 4 significant digits, exponent for very small or large values. */
export function formatNumber(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) return v.toExponential(2).replace(/\.?0+e/, "e");
  return String(Number(v.toPrecision(4)));
}

/** The note of a chart whose every drawn value is the same (a flat line would look like data), else "". */
export function constantText(model: ChartModel): string {
  const value = constantValue(model);
  return value === null ? "" : `constant: ${formatNumber(value)} at every step of every run drawn`;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Pixel points of a series with at most four per pixel column (first, min, max, last), in order:
 * the drawn line looks the same as with every point. Null values are skipped (lines span gaps).
 */
export function decimate(x: number[], values: (number | null)[], px: (x: number) => number, py: (y: number) => number) {
  const out: [number, number][] = [];
  let column = Number.NaN;
  let bucket: [number, number][] = [];
  const flush = () => {
    if (bucket.length <= 4) out.push(...bucket);
    else {
      const ys = bucket.map((p) => p[1]);
      const lo = bucket[ys.indexOf(Math.min(...ys))]!;
      const hi = bucket[ys.indexOf(Math.max(...ys))]!;
      const middle = lo[0] <= hi[0] ? [lo, hi] : [hi, lo];
      out.push(bucket[0]!, ...middle, bucket[bucket.length - 1]!);
    }
    bucket = [];
  };
  values.forEach((v, i) => {
    if (v === null) return;
    const p: [number, number] = [px(x[i]!), py(v)];
    const c = Math.round(p[0]);
    if (c !== column) {
      flush();
      column = c;
    }
    bucket.push(p);
  });
  flush();
  return out;
}

const pathOf = (points: [number, number][]) =>
  points.map(([x, y], i) => `${i === 0 ? "M" : "L"}${x.toFixed(1)},${y.toFixed(1)}`).join("");

/** The SVG document of a chart. */
export function chartSvg(chart: SvgChart): string {
  const width = chart.width ?? 720;
  const height = chart.height ?? 360;
  const left = 64;
  const right = 16;
  const top = 36;
  const lines = chart.model.series.filter((s) => s.role === "line");
  const legendRows = Math.ceil(lines.length / 3);
  const bottom = 44 + 18 * legendRows;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const [x0, x1] = chart.xRange;
  const [y0, y1] = chart.yRange;
  const px = (x: number) => left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const py = (y: number) => top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  const constant = constantText(chart.model);
  if (constant !== "") parts.push(`<text x="${left + 8}" y="${top + 16}" fill="#b00">${escapeXml(constant)}</text>`);
  for (const t of niceTicks(x0, x1)) {
    const x = px(t).toFixed(1);
    parts.push(`<line x1="${x}" x2="${x}" y1="${top}" y2="${top + plotH}" stroke="#eee"/>`);
    parts.push(`<text x="${x}" y="${top + plotH + 14}" text-anchor="middle" fill="#444">${formatNumber(t)}</text>`);
  }
  for (const t of niceTicks(y0, y1, 5)) {
    const y = py(t).toFixed(1);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${left - 6}" y="${y}" dy="0.35em" text-anchor="end" fill="#444">${formatNumber(t)}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`);
  parts.push(
    `<text x="${left + plotW / 2}" y="${top + plotH + 30}" text-anchor="middle" fill="#444">${escapeXml(chart.xLabel)}</text>`,
  );
  parts.push(`<clipPath id="plot"><rect x="${left}" y="${top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  parts.push(`<g clip-path="url(#plot)" fill="none" stroke-linejoin="round">`);
  const { x, series } = chart.model;
  series.forEach((s) => {
    if (s.role !== "max") return;
    const min = series.find((m) => m.role === "min" && m.unit === s.unit);
    if (min === undefined) return;
    const upper = decimate(x, s.values, px, py);
    const lower = decimate(x, min.values, px, py).reverse();
    parts.push(`<path d="${pathOf([...upper, ...lower])}Z" fill="${s.color}" fill-opacity="0.15" stroke="none"/>`);
  });
  for (const s of lines) {
    const points = decimate(x, s.values, px, py);
    parts.push(`<path d="${pathOf(points)}" stroke="${s.color}" stroke-width="1.5"/>`);
    // Sparse series (evals) also get markers: a single point draws no line.
    if (points.length * 8 < plotW) {
      for (const [cx, cy] of points) {
        parts.push(`<circle cx="${cx.toFixed(1)}" cy="${cy.toFixed(1)}" r="2.5" fill="${s.color}" stroke="none"/>`);
      }
    }
  }
  parts.push("</g>");
  lines.forEach((s, i) => {
    const lx = left + (i % 3) * (plotW / 3);
    const ly = top + plotH + 48 + 18 * Math.floor(i / 3);
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly - 4}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}">${escapeXml(s.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n");
}
