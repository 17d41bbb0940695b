/**
 * Runs a sweep plan's runs one after another, seed-major (every arm at the first seed before any
 * at the second, so a sweep cut short still compares arms), each as a child `lgpo-run train`. A
 * finished run (summary.json "completed") is skipped, one with a checkpoint is resumed, one without
 * is started over: a sweep stopped at any point continues where it was when run again. A run whose
 * run directory is gone but whose results were kept (committed under the plan's `results`) counts
 * as finished too, so a fresh clone continues a sweep instead of rerunning it.
 */
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, isAbsolute, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

import YAML from "yaml";

import { loadConfig, resolveConfig } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { RUN_FILES } from "../logging/run_layout.js";
import { unsafeChanges } from "../trainer/resume_check.js";
import type { SweepArm, SweepPlan } from "./plan.js";

/**
 * Where a run stands: finished, finished with only its results kept (no run directory), resumable
 * from a checkpoint, or to be started.
 */
export type RunStatus = "done" | "kept" | "resume" | "new";

/** One (arm, seed) of a plan. */
export interface SweepRun {
  arm: SweepArm;
  seed: number;
  dir: string;
  status: RunStatus;
}

/** Options of `runSweep`. */
export interface SweepOptions {
  /** Every arm at its first seed for 2 steps, no eval, into `<out>-quick` (a check that each arm starts). */
  quick?: boolean;
  /** Run directories' root instead of the plan's `out` (quick runs add `-quick` to it too). */
  out?: string;
  /** Arm names to run (default: all). */
  only?: string[];
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Where the child's stderr goes (default: inherited). */
  childStderr?: "inherit" | "ignore";
}

/** What a sweep did. */
export interface SweepSummary {
  status: "completed" | "stopped" | "failed";
  ran: number;
  skipped: number;
  failed?: { arm: string; seed: number; exit: number | string };
}

const CLI = fileURLToPath(new URL("../../bin/lgpo-run.js", import.meta.url));
const QUICK_SETS = ["trainer.steps=2", "eval.benchmarks=[]", "checkpoint.every=0", "trainer.kl_to_initial_every=1"];
/** A run's small outputs: what `results` keeps of it. */
export const RESULT_FILES = [RUN_FILES.metrics, RUN_FILES.summary, RUN_FILES.config] as const;

/** The status of the run directory `dir`. */
export function runStatus(dir: string): RunStatus {
  if (completed(dir)) return "done";
  // Not completed (or a torn summary): the checkpoint decides.
  return existsSync(join(dir, RUN_FILES.checkpoints, "latest")) ? "resume" : "new";
}

/** Whether `dir` holds a summary.json that says the run completed. */
function completed(dir: string): boolean {
  const summary = join(dir, RUN_FILES.summary);
  if (!existsSync(summary)) return false;
  try {
    return JSON.parse(readFileSync(summary, "utf8")).status === "completed";
  } catch {
    return false; // a torn summary
  }
}

/**
 * `kept` with its model path taken as `now`'s where both name the same checkpoint below their own
 * checkout: results committed from one clone (say /work/a) are kept in another (/home/b/lgpo).
 * The checkout's root is taken as the deepest folder holding both the arm's config and the model.
 */
function inThisCheckout(kept: RunConfig, now: RunConfig, armConfig: string): RunConfig {
  const [a, b] = [kept.model.path, now.model.path];
  if (a === b || !isAbsolute(a) || !isAbsolute(b)) return kept;
  const from = dirname(armConfig).split(sep);
  const to = b.split(sep);
  let common = 0;
  while (common < Math.min(from.length, to.length) && from[common] === to[common]) common++;
  const root = to.slice(0, common).join(sep);
  const below = relative(root || sep, b);
  const same = common > 1 && !below.startsWith("..") && a.endsWith(`${sep}${below}`);
  return same ? { ...kept, model: { ...kept.model, path: b } } : kept;
}

/**
 * Whether the results kept in `results` are those of `arm` at `seed` as the plan says it now: a
 * kept run whose config differs (outside what a resume may change) is run again.
 */
function keptMatches(results: string, arm: SweepArm, seed: number): boolean {
  if (!completed(results)) return false;
  const file = join(results, RUN_FILES.config);
  if (!existsSync(file)) return false;
  const now = loadConfig({ file: arm.config, set: [...arm.set, `seed=${seed}`] });
  try {
    const kept = resolveConfig(YAML.parse(readFileSync(file, "utf8")), file);
    return unsafeChanges(inThisCheckout(kept, now, arm.config), now).length === 0;
  } catch {
    return false; // results of a config this version no longer accepts: run it again
  }
}

/** The status of a run's directory, or "kept" where only its matching results are left. */
function sweepRunStatus(dir: string, arm: SweepArm, seed: number, results: string | null): RunStatus {
  const status = runStatus(dir);
  if (status === "new" && results !== null && !existsSync(dir) && keptMatches(results, arm, seed)) return "kept";
  return status;
}

/** The plan's runs in the order they run, with their status. */
export function planRuns(plan: SweepPlan, options: Pick<SweepOptions, "quick" | "only" | "out"> = {}): SweepRun[] {
  const unknown = (options.only ?? []).filter((n) => !plan.arms.some((a) => a.name === n));
  if (unknown.length) {
    throw new TypeError(
      `--only: no arm named ${unknown.join(", ")} in ${plan.file} (arms: ${plan.arms.map((a) => a.name).join(", ")})`,
    );
  }
  const arms = plan.arms
    .filter((a) => !options.only?.length || options.only.includes(a.name))
    .map((a) => (options.quick ? { ...a, seeds: a.seeds.slice(0, 1) } : a)); // quick: one seed per arm
  const root = options.out ?? plan.out;
  const out = options.quick ? `${root}-quick` : root;
  const allSeeds = [...new Set(arms.flatMap((a) => a.seeds))].sort((a, b) => a - b);
  return allSeeds.flatMap((seed) =>
    arms
      .filter((a) => a.seeds.includes(seed))
      .map((arm) => {
        const dir = join(out, arm.name, `seed-${seed}`);
        const kept = options.quick || !plan.results ? null : join(plan.results, arm.name, `seed-${seed}`);
        return { arm, seed, dir, status: sweepRunStatus(dir, arm, seed, kept) };
      }),
  );
}

/** The `lgpo-run` arguments of a run. */
export function runArgs(run: SweepRun, quick = false): string[] {
  if (run.status === "resume") return ["train", "--resume", run.dir];
  const sets = [...run.arm.set, ...(quick ? QUICK_SETS : []), `seed=${run.seed}`];
  return ["train", "--config", run.arm.config, ...sets.flatMap((s) => ["--set", s]), "--run-dir", run.dir];
}

/** Copies a finished run's small outputs to `<results>/<arm>/seed-<n>/`. */
export function copyResults(run: SweepRun, results: string): void {
  const dest = join(results, run.arm.name, `seed-${run.seed}`);
  mkdirSync(dest, { recursive: true });
  for (const f of RESULT_FILES) copyFileSync(join(run.dir, f), join(dest, f));
}

function child(args: string[], stderr: "inherit" | "ignore"): Promise<number | string> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "ignore", stderr] });
    p.on("error", reject);
    p.on("exit", (code, signal) => resolve(code ?? signal ?? 1));
  });
}

/** Runs every run of `plan` that is not finished; stops at the first failure or interruption. */
export async function runSweep(plan: SweepPlan, options: SweepOptions = {}): Promise<SweepSummary> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const runs = planRuns(plan, options);
  let ran = 0;
  let skipped = 0;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true; // the child, in the same process group, gets the signal and checkpoints
  };
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  try {
    for (const [i, run] of runs.entries()) {
      const label = `${run.arm.name} seed ${run.seed}`;
      if (run.status === "kept") {
        skipped++;
        continue;
      }
      if (run.status !== "done") {
        if (run.status === "new") rmSync(run.dir, { recursive: true, force: true });
        log(`sweep ${plan.name} [${i + 1}/${runs.length}]: ${label} (${run.status === "new" ? "start" : "resume"})`);
        const exit = await child(runArgs(run, options.quick), options.childStderr ?? "inherit");
        if (interrupted || exit === 130 || exit === "SIGINT" || exit === "SIGTERM") {
          log(`sweep ${plan.name}: stopped during ${label}; run it again to continue`);
          return { status: "stopped", ran, skipped };
        }
        if (exit !== 0) {
          log(`sweep ${plan.name}: ${label} failed (exit ${exit}); its directory: ${run.dir}`);
          return { status: "failed", ran, skipped, failed: { arm: run.arm.name, seed: run.seed, exit } };
        }
        if (runStatus(run.dir) !== "done") {
          log(`sweep ${plan.name}: ${label} stopped before its last step; run the sweep again to continue`);
          return { status: "stopped", ran, skipped };
        }
        ran++;
      } else skipped++;
      if (plan.results && !options.quick) copyResults(run, plan.results);
    }
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
  log(`sweep ${plan.name}: ${runs.length} runs finished (${ran} run now, ${skipped} already done)`);
  return { status: "completed", ran, skipped };
}
