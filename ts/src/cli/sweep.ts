/** `lgpo-run sweep FILE`: run a plan's arms × seeds one after another, resumable. */
import { resolve } from "node:path";

import type { Command } from "commander";

import { planRuns, readPlan, runArgs, runSweep } from "../sweep/index.js";
import { UsageError } from "./errors.js";

interface SweepCliOptions {
  quick: boolean;
  set: string[];
  only?: string;
  out?: string;
  list: boolean;
}

/** Adds the `sweep` command to `cli`. */
export function registerSweep(cli: Command): void {
  cli
    .command("sweep")
    .description(
      "run every arm × seed of a sweep plan (YAML: arms = training configs with --set overrides) one after another " +
        "into <out>/<arm>/seed-<n>, seed-major; finished runs (and runs whose results the plan's `results` keeps, " +
        "with the same config) are skipped and an interrupted one resumes from its checkpoint, so running it again " +
        "continues the sweep (experiments/README.md)",
    )
    .argument("<plan>", "sweep plan file")
    .option("--quick", "every arm at its first seed for 2 steps with no eval, into <out>-quick", false)
    .option("--only <arms>", "comma-separated arm names to run")
    .option("--out <dir>", "root of the run directories instead of the plan's `out`")
    .option("--list", "print each run's status and command, run nothing", false)
    .option(
      "--set <key=value>",
      "an override for every arm, after the plan's and the arm's (repeatable; counts as a config change for " +
        "runs already started or kept)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .action((file: string, o: SweepCliOptions) => sweep(file, o));
}

async function sweep(file: string, o: SweepCliOptions): Promise<void> {
  const bad = o.set.find((s) => !/^[^=]+=/.test(s));
  if (bad !== undefined) throw new UsageError(`--set ${bad}: must be key.path=value`);
  const read = readPlan(file);
  const plan = { ...read, arms: read.arms.map((a) => ({ ...a, set: [...a.set, ...o.set] })) };
  const only = o.only?.split(",").filter(Boolean);
  const out = o.out === undefined ? undefined : resolve(o.out);
  if (o.list) {
    for (const run of planRuns(plan, { quick: o.quick, only, out })) {
      process.stdout.write(
        `${run.status}\t${run.arm.name}\t${run.seed}\tlgpo-run ${runArgs(run, o.quick).join(" ")}\n`,
      );
    }
    return;
  }
  const summary = await runSweep(plan, { quick: o.quick, only, out });
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (summary.status === "stopped") process.exitCode = 130;
  else if (summary.status === "failed") {
    const f = summary.failed!;
    const message = `sweep ${plan.name}: ${f.arm} seed ${f.seed} failed (exit ${f.exit})`;
    // A run refused for its input (exit 2) is the plan's input error; anything else is a failure.
    throw f.exit === 2 ? new UsageError(message) : new Error(message);
  }
}
