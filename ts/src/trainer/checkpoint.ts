/**
 * Checkpoints in RUN_DIR/checkpoints/step-N/: the model as a Hugging Face checkpoint, the AdamW
 * state and trainer_state.json. A checkpoint is written under a temporary name and renamed into
 * place, and `latest` is rewritten after the rename, so a crash at any point (kill -9 included)
 * leaves the previous checkpoint complete and findable; every file and the renamed directory are
 * fsynced before `latest` moves, so a power loss does too. The newest `keep_last` are kept.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { Policy } from "../sdk/policy.js";
import { RUN_FILES } from "../logging/run_layout.js";
import { fsyncPath, writeFileAtomic } from "../util/atomic_write.js";
import { parseState, type TrainerState } from "./state.js";

const STATE_FILE = "trainer_state.json";
const OPTIMIZER_FILE = "optimizer.safetensors";
const STEP_DIR = /^step-(\d+)$/;

/** The checkpoints folder of a run directory. */
export function checkpointsDir(runDir: string): string {
  return join(runDir, RUN_FILES.checkpoints);
}

/** Flushes every file of `dir` (recursively), then `dir` itself. */
function fsyncTree(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) fsyncTree(path);
    else if (entry.isFile()) fsyncPath(path);
  }
  fsyncPath(dir);
}

/**
 * Fault injection for the crash tests: `LGPO_FAULT=checkpoint-write@N` kills the process (SIGKILL,
 * as `kill -9`) halfway through writing the checkpoint of step N.
 */
function maybeCrashMidWrite(step: number): void {
  if (process.env.LGPO_FAULT === `checkpoint-write@${step}`) process.kill(process.pid, "SIGKILL");
}

/** Writes checkpoint `state.step` and prunes old ones; returns its directory. */
export async function saveCheckpoint(
  runDir: string,
  policy: Policy,
  state: TrainerState,
  options: { dtype: "f32" | "bf16" | "f16"; keepLast: number },
): Promise<string> {
  const root = checkpointsDir(runDir);
  const name = `step-${state.step}`;
  const dir = join(root, name);
  const staging = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    await policy.save(staging, { dtype: options.dtype });
    await policy.saveOptimizer(join(staging, OPTIMIZER_FILE));
    maybeCrashMidWrite(state.step);
    // The state is written last: a directory with it is complete.
    writeFileSync(join(staging, STATE_FILE), `${JSON.stringify(state, null, 2)}\n`);
    // On disk before the rename, and the rename on disk before `latest` names it: a power loss
    // leaves either the previous checkpoint or this whole one.
    fsyncTree(staging);
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    fsyncPath(root);
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  writeFileAtomic(join(root, "latest"), `${name}\n`, { durable: true });
  for (const old of listCheckpoints(runDir).slice(0, -options.keepLast)) {
    rmSync(join(root, `step-${old}`), { recursive: true, force: true });
  }
  return dir;
}

/** Steps of the complete checkpoints of a run, ascending. */
export function listCheckpoints(runDir: string): number[] {
  const root = checkpointsDir(runDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((n) => STEP_DIR.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(join(root, m[0], STATE_FILE)))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

/** The newest complete checkpoint: the one `latest` names, else the highest complete step. */
export function latestCheckpoint(runDir: string): { dir: string; state: TrainerState } | undefined {
  const root = checkpointsDir(runDir);
  const latest = join(root, "latest");
  let name: string | undefined;
  if (existsSync(latest)) {
    const named = readFileSync(latest, "utf8").trim();
    if (STEP_DIR.test(named) && existsSync(join(root, named, STATE_FILE))) name = named;
  }
  const steps = listCheckpoints(runDir);
  if (steps.length && (name === undefined || Number(STEP_DIR.exec(name)![1]) < steps.at(-1)!)) {
    name = `step-${steps.at(-1)}`;
  }
  if (name === undefined) return undefined;
  const dir = join(root, name);
  const statePath = join(dir, STATE_FILE);
  return { dir, state: parseState(readFileSync(statePath, "utf8"), statePath) };
}

/** Removes staging folders left by a crash mid-write. */
export function removeStaleStaging(runDir: string): void {
  const root = checkpointsDir(runDir);
  if (!existsSync(root)) return;
  for (const n of readdirSync(root)) {
    if (n.startsWith(".step-") || n.includes(".saving-") || n.includes(".tmp-")) {
      rmSync(join(root, n), { recursive: true, force: true });
    }
  }
}

/** The optimizer state file of a checkpoint directory. */
export function optimizerPath(checkpointDir: string): string {
  return join(checkpointDir, OPTIMIZER_FILE);
}
