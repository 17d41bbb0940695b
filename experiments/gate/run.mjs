#!/usr/bin/env node
// Runs the arms of experiments/gate/arms.yaml one after another, seed-major (every arm and base at
// seed 0 first), into runs/gate/<base>/<arm>/seed-<n>, each from the default config with the
// arm's gate section in place of the default's (written beside the run as seed-<n>.yaml). A finished run (summary.json "completed")
// is skipped; one with a checkpoint is resumed; one without is started over. So the sweep can be
// stopped at any point and run again to continue.
//
//   node experiments/gate/run.mjs [--out runs/gate] [--only base/arm] [--quick]
//
// --quick runs every arm for 2 steps with no eval (a check that every arm starts).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import YAML from "yaml";

const here = dirname(new URL(import.meta.url).pathname);
const root = resolve(here, "../..");
const { values: args } = parseArgs({
  options: {
    out: { type: "string", default: join(root, "runs/gate") },
    only: { type: "string" },
    quick: { type: "boolean", default: false },
  },
});
const plan = YAML.parse(readFileSync(join(here, "arms.yaml"), "utf8"));
const cli = join(root, "ts/bin/lgpo-run.js");

function status(dir) {
  const summary = join(dir, "summary.json");
  if (existsSync(summary) && JSON.parse(readFileSync(summary, "utf8")).status === "completed") return "done";
  return existsSync(join(dir, "checkpoints/latest")) ? "resume" : "new";
}

for (const seed of plan.seeds) {
  for (const [base, model] of Object.entries(plan.bases)) {
    for (const [arm, gate] of Object.entries(plan.arms)) {
      if (args.only && args.only !== `${base}/${arm}`) continue;
      if (seed !== plan.seeds[0] && (plan.seed_0_only ?? []).includes(arm)) continue;
      const dir = join(resolve(args.out), base, arm, `seed-${seed}`);
      const state = status(dir);
      if (state === "done") continue;
      if (!existsSync(resolve(here, model))) {
        process.stderr.write(`gate sweep: skipping ${base}: ${resolve(here, model)} is missing\n`);
        continue;
      }
      const config = YAML.parse(readFileSync(resolve(here, plan.config), "utf8"));
      config.model.path = resolve(here, model);
      config.objective.gate = gate;
      config.seed = seed;
      config.logging = { ...config.logging, progress: "lines" };
      if (args.quick) Object.assign(config, { eval: { benchmarks: [] }, checkpoint: { every: 0 } });
      if (args.quick) config.trainer.steps = 2;
      const file = `${dir}.yaml`;
      if (state === "new") {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dirname(dir), { recursive: true });
        writeFileSync(file, YAML.stringify(config));
      }
      const command = state === "resume" ? ["train", "--resume", dir] : ["train", "--config", file, "--run-dir", dir];
      process.stderr.write(`gate sweep: ${base}/${arm} seed ${seed} (${state})\n`);
      const r = spawnSync(process.execPath, [cli, ...command], { stdio: ["ignore", "ignore", "inherit"] });
      if (r.status !== 0) {
        process.stderr.write(`gate sweep: ${base}/${arm} seed ${seed} failed (exit ${r.status ?? r.signal})\n`);
        process.exit(1);
      }
    }
  }
}
