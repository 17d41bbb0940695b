#!/usr/bin/env node
// docs/reproduction.md's tables and figures from the committed results (experiments/results/paper,
// copied there by the sweeps), so they rebuild without rerunning: for each plan, a table of its
// arms (per arm the seeds finished, the collapse verdict of ts/src/sweep/verdict.ts per seed, and
// seed means ± standard deviations), written between `<!-- table:PLAN -->` and `<!-- /table:PLAN -->`
// in docs/reproduction.md, and the plan's figures (seed bands, EMA 0.8) drawn by
// `lgpo-run report --svg` into docs/reproduction/PLAN/.
//
//   node experiments/paper/summarize.mjs [--results DIR] [--json]
//
// Each plan's results are read from the plan's `results` directory unless --results names one.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";

import { readPlan, stabilityVerdict } from "../../ts/dist/sweep/index.js";

const here = dirname(new URL(import.meta.url).pathname);
const root = resolve(here, "../..");
const { values: args } = parseArgs({
  options: {
    results: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const PLANS = [
  "claim-1",
  "claim-2",
  "claim-3",
  "claim-4",
  "claim-5",
  "claim-6",
  "beyond-updates",
  "beyond-tau",
  "setting-sft4",
];
const FIGURES = {
  default: ["reward/success_frac", "eval/countdown/avg@8", "eval/countdown/greedy", "entropy/mean", "kl/initial"],
  "claim-1": ["clip/frac_low", "clip/frac_high"],
  "claim-2": ["clip/frac_high", "gate/gated_frac"],
  "claim-4": ["gate/gated_frac", "gate/positive_gated_frac"],
  "claim-5": ["gate/gated_frac", "gate/kept_nonzero_adv_frac", "gate/zero_adv_frac"],
  "beyond-tau": ["gate/gated_frac", "gate/positive_gated_frac", "gate/tau"],
  "setting-sft4": ["clip/frac_high", "gate/gated_frac"],
};

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const fmt = (xs, digits = 3) =>
  xs.length === 0
    ? "–"
    : xs.length === 1
      ? xs[0].toFixed(digits)
      : `${mean(xs).toFixed(digits)} ± ${std(xs).toFixed(digits)}`;

/** One finished run's numbers. */
function runNumbers(dir) {
  const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
  if (summary.status !== "completed") return undefined;
  const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map(JSON.parse);
  const steps = lines.filter((l) => "reward/mean" in l);
  const evals = lines.filter((l) => "eval/countdown/greedy" in l);
  const kl = steps.filter((l) => typeof l["kl/initial"] === "number");
  const stepMean = (key, from = 0) => mean(steps.slice(from).map((l) => l[key] ?? 0));
  return {
    verdict: stabilityVerdict(lines),
    steps: steps.length,
    greedy0: evals[0]?.["eval/countdown/greedy"],
    greedy: evals.at(-1)?.["eval/countdown/greedy"],
    avg0: evals[0]?.["eval/countdown/avg@8"],
    avg: evals.at(-1)?.["eval/countdown/avg@8"],
    bestAvg: evals.length ? Math.max(...evals.map((l) => l["eval/countdown/avg@8"])) : undefined,
    entropyEnd: stepMean("entropy/mean", -10),
    klEnd: kl.at(-1)?.["kl/initial"],
    gated: stepMean("gate/gated_frac"),
    positiveGated: stepMean("gate/positive_gated_frac"),
    keptNonzero: stepMean("gate/kept_nonzero_adv_frac"),
    zeroAdv: stepMean("gate/zero_adv_frac"),
    clip: mean(steps.map((l) => (l["clip/frac_low"] ?? 0) + (l["clip/frac_high"] ?? 0))),
    stepS: stepMean("time/step_s", 1), // the first step also warms up
    oldS: stepMean("time/old_logprob_s", 1),
    generateS: stepMean("time/generate_s", 1),
    updateS: stepMean("time/update_s", 1),
    length: stepMean("response_length/mean"),
    wallS: summary.wallS,
    keys: new Set(lines.flatMap((l) => Object.keys(l))),
  };
}

function verdictText(runs) {
  const collapsed = runs.filter((r) => r.verdict.collapsed);
  const late = runs.filter((r) => r.verdict.lateDrop).length;
  const where = collapsed.map(
    (r) => `${r.verdict.step}${r.verdict.reason === "success" ? "" : ` (${r.verdict.reason})`}`,
  );
  let text = `${collapsed.length}/${runs.length} collapsed${where.length ? ` (step ${where.join(", ")})` : ""}`;
  if (late) text += `, ${late} late drop`;
  return text;
}

function armTable(planName, arms) {
  const time = planName === "claim-6";
  const header = time
    ? [
        "arm",
        "seeds",
        "step s",
        "generate s",
        "old log-probs s",
        "update s",
        "response tokens",
        "zero-adv share",
        "wall s",
        "step / LGPO's",
      ]
    : [
        "arm",
        "seeds",
        "verdict",
        "peak success",
        "final success",
        "greedy 0 → end",
        "avg@8 end (best)",
        "entropy end",
        "KL end",
        "gated",
        "A>0 gated",
        "clip",
      ];
  const rows = [header, header.map(() => "---")];
  const lgpoStep = {};
  for (const { name, runs } of arms)
    if (name.startsWith("time-lgpo")) lgpoStep[name.split("-").at(-1)] = mean(runs.map((r) => r.stepS));
  for (const { name, runs } of arms) {
    if (runs.length === 0) {
      rows.push([name, "0 (not run yet)", ...header.slice(2).map(() => "")]);
      continue;
    }
    const col = (key, d) =>
      fmt(
        runs.map((r) => r[key]).filter((v) => typeof v === "number"),
        d,
      );
    if (time) {
      const ref = lgpoStep[name.split("-").at(-1)];
      rows.push([
        name,
        String(runs.length),
        col("stepS"),
        col("generateS"),
        col("oldS"),
        col("updateS"),
        col("length", 1),
        col("zeroAdv"),
        col("wallS", 1),
        ref ? (mean(runs.map((r) => r.stepS)) / ref).toFixed(3) : "–",
      ]);
      continue;
    }
    rows.push([
      name,
      String(runs.length),
      verdictText(runs),
      fmt(runs.map((r) => r.verdict.peak)),
      fmt(runs.map((r) => r.verdict.final)),
      `${col("greedy0", 2)} → ${col("greedy", 3)}`,
      `${col("avg")} (${col("bestAvg")})`,
      col("entropyEnd"),
      col("klEnd"),
      col("gated"),
      col("positiveGated"),
      col("clip"),
    ]);
  }
  return rows.map((r) => `| ${r.join(" | ")} |`).join("\n");
}

const doc = join(root, "docs/reproduction.md");
let text = existsSync(doc) ? readFileSync(doc, "utf8") : "";
const out = {};
for (const planName of PLANS) {
  const planFile = join(here, `${planName}.yaml`);
  if (!existsSync(planFile)) continue;
  const plan = readPlan(planFile);
  const arms = plan.arms.map((arm) => {
    const dir = join(args.results ?? plan.results, arm.name);
    const seeds = existsSync(dir) ? readdirSync(dir).filter((d) => /^seed-\d+$/.test(d)) : [];
    const runs = seeds
      .map((s) => ({ seed: s, dir: join(dir, s) }))
      .filter((s) => arm.seeds.includes(Number(s.seed.slice(5))))
      .map((s) => ({ ...s, ...runNumbers(s.dir) }))
      .filter((r) => r.verdict !== undefined);
    return { name: arm.name, runs };
  });
  out[planName] = arms.map((a) => ({ name: a.name, runs: a.runs.map(({ dir, keys, ...r }) => r) }));
  const table = armTable(planName, arms);
  const open = `<!-- table:${planName} -->`;
  const close = `<!-- /table:${planName} -->`;
  const at = text.indexOf(open);
  if (at !== -1) text = `${text.slice(0, at + open.length)}\n${table}\n${text.slice(text.indexOf(close, at))}`;
  const dirs = arms.flatMap((a) => a.runs.map((r) => r.dir));
  const keys = planName === "claim-6" ? [] : [...FIGURES.default, ...(FIGURES[planName] ?? [])];
  const present = keys.filter((k) => arms.some((a) => a.runs.some((r) => r.keys.has(k))));
  if (dirs.length && present.length) {
    // Training metrics are noisy per step: EMA 0.8; evals (every 20 steps) are drawn as they are.
    for (const [metrics, smoothing] of [
      [present.filter((k) => !k.startsWith("eval/")), "0.8"],
      [present.filter((k) => k.startsWith("eval/")), "0"],
    ]) {
      if (metrics.length === 0) continue;
      const cli = join(root, "ts/bin/lgpo-run.js");
      const svg = join(root, "docs/reproduction", planName);
      const command = [cli, "report", ...dirs, "--svg", svg, "--metrics", metrics.join(","), "--smoothing", smoothing];
      const r = spawnSync(process.execPath, command, { stdio: ["ignore", "ignore", "inherit"] });
      if (r.status !== 0) process.exit(r.status ?? 1);
    }
  }
}
if (text) writeFileSync(doc, text);
if (args.json) process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
