#!/usr/bin/env node
// The charts of docs/gate.md from the sweep's run directories: for each base, one SVG with a panel
// per metric (held-out greedy and avg@8 at each eval, sampled success, the gated fraction, the
// gated share of positive-advantage samples, τ, generation entropy), one line per arm, the mean
// over its finished seeds (training metrics smoothed over 10 steps). `lgpo-run report` draws every
// metric of the same runs interactively.
//
//   node experiments/gate/charts.mjs [--runs runs/gate] [--out docs/gate]
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { runs: { type: "string", default: "runs/gate" }, out: { type: "string", default: "docs/gate" } },
});
const root = resolve(args.runs);
const PANELS = [
  ["eval/countdown/greedy", "held-out greedy", "eval"],
  ["eval/countdown/avg@8", "held-out avg@8", "eval"],
  ["reward/success_frac", "sampled success", "step"],
  ["gate/gated_frac", "gated fraction", "step"],
  ["gate/positive_gated_frac", "gated share of A > 0", "step"],
  ["gate/tau", "τ", "step"],
  ["entropy/mean", "entropy (nats/token)", "step"],
];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];
const dirs = (p) => (existsSync(p) ? readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()) : []);

function finishedLines(dir) {
  const summary = join(dir, "summary.json");
  if (!existsSync(summary) || JSON.parse(readFileSync(summary, "utf8")).status !== "completed") return undefined;
  return readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map(JSON.parse);
}

/** Mean over seeds of `key` at each step where every seed logged it; smoothed for step metrics. */
function series(runs, key, kind) {
  const bySteps = new Map();
  for (const lines of runs) {
    for (const l of lines) {
      if (typeof l[key] !== "number" || (kind === "step") !== "reward/mean" in l) continue;
      const acc = bySteps.get(l.step) ?? [];
      acc.push(l[key]);
      bySteps.set(l.step, acc);
    }
  }
  const points = [...bySteps.entries()]
    .filter(([, v]) => v.length === runs.length)
    .sort((a, b) => a[0] - b[0])
    .map(([s, v]) => [s, v.reduce((a, b) => a + b, 0) / v.length]);
  if (kind === "eval") return points;
  return points.map(([s], i) => {
    const window = points.slice(Math.max(0, i - 9), i + 1);
    return [s, window.reduce((a, p) => a + p[1], 0) / window.length];
  });
}

function panel(title, lines, x0, y0, w, h) {
  const all = lines.flatMap((l) => l.points);
  if (!all.length) return "";
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [xmin, xmax] = [Math.min(...xs), Math.max(...xs)];
  let [ymin, ymax] = [Math.min(...ys), Math.max(...ys)];
  if (ymax === ymin) [ymin, ymax] = [ymin - 0.5, ymax + 0.5];
  const pad = (ymax - ymin) * 0.08;
  [ymin, ymax] = [ymin - pad, ymax + pad];
  const px = (x) => x0 + 40 + ((x - xmin) / Math.max(1, xmax - xmin)) * (w - 50);
  const py = (y) => y0 + h - 20 - ((y - ymin) / (ymax - ymin)) * (h - 40);
  const out = [
    `<text x="${x0 + w / 2}" y="${y0 + 12}" text-anchor="middle" font-size="12">${title}</text>`,
    `<rect x="${x0 + 40}" y="${y0 + 20}" width="${w - 50}" height="${h - 40}" fill="none" stroke="#ccc"/>`,
    `<text x="${x0 + 36}" y="${py(ymax) + 4}" text-anchor="end" font-size="9">${ymax.toFixed(3)}</text>`,
    `<text x="${x0 + 36}" y="${py(ymin)}" text-anchor="end" font-size="9">${ymin.toFixed(3)}</text>`,
    `<text x="${px(xmin)}" y="${y0 + h - 6}" font-size="9">${xmin}</text>`,
    `<text x="${px(xmax)}" y="${y0 + h - 6}" text-anchor="end" font-size="9">step ${xmax}</text>`,
  ];
  for (const { points, color } of lines) {
    if (!points.length) continue;
    const d = points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
    out.push(`<polyline points="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    if (points.length < 20) {
      for (const [x, y] of points)
        out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2" fill="${color}"/>`);
    }
  }
  return out.join("\n");
}

mkdirSync(resolve(args.out), { recursive: true });
for (const base of dirs(root)) {
  const arms = dirs(join(root, base.name))
    .map((a, i) => ({
      name: a.name,
      color: COLORS[i % COLORS.length],
      runs: dirs(join(root, base.name, a.name))
        .map((d) => finishedLines(join(root, base.name, a.name, d.name)))
        .filter((r) => r !== undefined),
    }))
    .filter((a) => a.runs.length);
  if (!arms.length) continue;
  const [w, h, cols] = [330, 190, 4];
  const rows = Math.ceil((PANELS.length + 1) / cols);
  const parts = PANELS.map(([key, title, kind], i) =>
    panel(
      title,
      arms.map((a) => ({ color: a.color, points: series(a.runs, key, kind) })),
      (i % cols) * w,
      Math.floor(i / cols) * h,
      w,
      h,
    ),
  );
  const lx = (PANELS.length % cols) * w + 50;
  const ly = Math.floor(PANELS.length / cols) * h + 30;
  arms.forEach((a, i) => {
    parts.push(
      `<line x1="${lx}" y1="${ly + i * 18}" x2="${lx + 24}" y2="${ly + i * 18}" stroke="${a.color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${lx + 30}" y="${ly + i * 18 + 4}" font-size="11">${a.name} (${a.runs.length} seeds)</text>`);
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * w}" height="${rows * h}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n<text x="${lx}" y="${ly + arms.length * 18 + 14}" font-size="10" fill="#666">base: ${base.name}; mean over seeds; training metrics smoothed over 10 steps</text>\n${parts.join("\n")}\n</svg>\n`;
  const file = join(resolve(args.out), `${base.name}.svg`);
  writeFileSync(file, svg);
  process.stderr.write(`wrote ${file}\n`);
}
