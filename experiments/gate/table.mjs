#!/usr/bin/env node
// The table of docs/gate.md from the sweep's run directories (experiments/gate/run.mjs): per base
// and arm, mean ± standard deviation over the finished seeds of held-out greedy and avg@8 before
// and after, the gain of each seed, and per-step means of the gated fraction, the gated share of
// positive-advantage samples, tau, generation entropy and the step time.
//
//   node experiments/gate/table.mjs [--runs runs/gate] [--json]
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: { runs: { type: "string", default: "runs/gate" }, json: { type: "boolean", default: false } },
});
const root = resolve(args.runs);

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);
const dirs = (p) => (existsSync(p) ? readdirSync(p, { withFileTypes: true }).filter((d) => d.isDirectory()) : []);

/** One finished run's numbers, or undefined while it is not complete. */
function runNumbers(dir) {
  const summaryPath = join(dir, "summary.json");
  if (!existsSync(summaryPath)) return undefined;
  const summary = JSON.parse(readFileSync(summaryPath, "utf8"));
  if (summary.status !== "completed") return undefined;
  const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n").map(JSON.parse);
  const steps = lines.filter((l) => "reward/mean" in l);
  const evals = lines.filter((l) => "eval/countdown/greedy" in l);
  const stepMean = (key) => {
    const v = steps.map((l) => l[key]).filter((x) => typeof x === "number");
    return v.length ? mean(v) : Number.NaN;
  };
  const first = evals[0];
  const last = evals.at(-1);
  return {
    greedy: [first["eval/countdown/greedy"], last["eval/countdown/greedy"]],
    avg8: [first["eval/countdown/avg@8"], last["eval/countdown/avg@8"]],
    gated: stepMean("gate/gated_frac"),
    positiveGated: stepMean("gate/positive_gated_frac"),
    tau: stepMean("gate/tau"),
    tauLast: steps.at(-1)["gate/tau"],
    entropy: stepMean("entropy/mean"),
    success: stepMean("reward/success_frac"),
    successLast20: mean(steps.slice(-20).map((l) => l["reward/success_frac"])),
    stepS: stepMean("time/step_s"),
    wallS: summary.wallS,
  };
}

const rows = [];
for (const base of dirs(root)) {
  for (const arm of dirs(join(root, base.name))) {
    const seeds = dirs(join(root, base.name, arm.name))
      .map((d) => ({
        seed: Number(d.name.replace("seed-", "")),
        n: runNumbers(join(root, base.name, arm.name, d.name)),
      }))
      .filter((s) => s.n !== undefined)
      .sort((a, b) => a.seed - b.seed);
    if (seeds.length) rows.push({ base: base.name, arm: arm.name, seeds });
  }
}

if (args.json) {
  process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  process.exit(0);
}

const pm = (xs, digits = 3) => `${mean(xs).toFixed(digits)} ± ${std(xs).toFixed(digits)}`;
const lines = [
  "| base | arm | seeds | greedy before → after | greedy gain per seed | avg@8 before → after | avg@8 gain per seed | gated | gated of A > 0 | tau (mean; last) | entropy | success (last 20 steps) | s / step |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
];
for (const { base, arm, seeds } of rows) {
  const n = seeds.map((s) => s.n);
  const gains = (key) => n.map((x) => x[key][1] - x[key][0]);
  const perSeed = (key) =>
    gains(key)
      .map((g) => (g >= 0 ? "+" : "") + g.toFixed(3))
      .join(", ");
  lines.push(
    `| ${base} | ${arm} | ${seeds.map((s) => s.seed).join(",")} | ${mean(n.map((x) => x.greedy[0])).toFixed(3)} → ${pm(n.map((x) => x.greedy[1]))} | ${perSeed("greedy")} | ` +
      `${mean(n.map((x) => x.avg8[0])).toFixed(3)} → ${pm(n.map((x) => x.avg8[1]))} | ${perSeed("avg8")} | ` +
      `${pm(n.map((x) => x.gated))} | ${pm(n.map((x) => x.positiveGated))} | ${mean(n.map((x) => x.tau)).toFixed(3)}; ${mean(n.map((x) => x.tauLast)).toFixed(3)} | ` +
      `${pm(n.map((x) => x.entropy))} | ${pm(n.map((x) => x.successLast20))} | ${pm(
        n.map((x) => x.stepS),
        2,
      )} |`,
  );
}
process.stdout.write(`${lines.join("\n")}\n`);
