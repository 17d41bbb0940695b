/**
 * Everything a resume needs besides the weights and the optimizer: one object, saved and loaded
 * in one place (as Hugging Face Trainer's `TrainerState`). Random streams are derived from
 * (seed, step) and the data cursor, so the counters below are the whole RNG state.
 */
import { createHash } from "node:crypto";

import type { RunConfig } from "../config/schema.js";
import type { DataCursor } from "../data/prompt_stream.js";

/** The trainer's state after `step` rollout steps. */
export interface TrainerState {
  /** Format marker of trainer_state.json. */
  format: "lgpo-trainer-state-v1";
  /** Rollout steps done. */
  step: number;
  /** Optimizer steps taken (checked against the restored optimizer). */
  optimizerSteps: number;
  /** Where the next training prompt is read. */
  cursor: DataCursor;
  /** Non-finite optimizer steps in a row at the end of the last step. */
  nonfiniteStreak: number;
  /** Seconds of training so far (across resumes). */
  wallS: number;
  /** Seed of the run (the RNG streams are derived from it, the step and the cursor). */
  seed: number;
  /** Hash of the resolved config the state belongs to (minus the keys a resume may change). */
  configHash: string;
  /** Eval metrics of the first eval (the run summary's "before"). */
  initialEval: Record<string, number> | null;
  /** The gate controller's τ for the next step (`objective.gate.mode: target`), else null. */
  gateTau: number | null;
}

/** Keys a resumed run may change without changing what it computes. */
const RESUMABLE_KEYS = new Set(["run_dir", "trainer", "checkpoint", "logging", "eval"]);

/** A hash of the config parts that determine the computation (not steps, logging, paths). */
export function configHash(config: RunConfig): string {
  const relevant = Object.fromEntries(Object.entries(config).filter(([k]) => !RESUMABLE_KEYS.has(k)));
  const trainer = { ...config.trainer, steps: null, epochs: null };
  return createHash("sha256")
    .update(JSON.stringify({ ...relevant, trainer }))
    .digest("hex")
    .slice(0, 16);
}

/** The state of a run that has not started. */
export function initialState(config: RunConfig): TrainerState {
  return {
    format: "lgpo-trainer-state-v1",
    step: 0,
    optimizerSteps: 0,
    cursor: { epoch: 0, index: 0 },
    nonfiniteStreak: 0,
    wallS: 0,
    seed: config.seed,
    configHash: configHash(config),
    initialEval: null,
    gateTau: null,
  };
}

/** Parses trainer_state.json; names the file and field on error. */
export function parseState(text: string, path: string): TrainerState {
  let s: Partial<TrainerState>;
  try {
    s = JSON.parse(text) as Partial<TrainerState>;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (s.format !== "lgpo-trainer-state-v1") throw new Error(`${path}: not an lgpo trainer state`);
  for (const key of ["step", "optimizerSteps", "nonfiniteStreak", "wallS", "seed"] as const) {
    if (typeof s[key] !== "number") throw new Error(`${path}: field \`${key}\` must be a number`);
  }
  if (typeof s.cursor?.epoch !== "number" || typeof s.cursor?.index !== "number") {
    throw new Error(`${path}: field \`cursor\` must be { epoch, index }`);
  }
  if (s.gateTau === undefined) s.gateTau = null; // states written before the gate modes
  if (s.gateTau !== null && typeof s.gateTau !== "number")
    throw new Error(`${path}: field \`gateTau\` must be a number or null`);
  return s as TrainerState;
}
