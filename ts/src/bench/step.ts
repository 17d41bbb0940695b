/**
 * Full RL steps of LGPO against GRPO on identical rollouts (`lgpo-run bench step`, issue 11):
 * generate, reward, old log-probs where the objective needs them, N_updates optimizer steps.
 * GRPO is measured three ways: (a) `recompute`, the no-grad pass over the whole rollout batch
 * (verl); (b) `skip_first`, the pass skipped for the first minibatch (exact); (c)
 * `rollout_logprobs`, the sampling log-probs from generation (exact without
 * top-k/top-p); each with and without skipping zero-advantage sequences.
 *
 * Every timed step starts from a fresh load of the same checkpoint (untimed) with the repeat's
 * seed, so all cells of a repeat train on the same prompts and responses; this is checked (a hash
 * of the rollout tokens) and the bench fails if they differ. Cells run interleaved within each
 * repeat, every other repeat in reverse order, so drifting machine load and a cell's position hit
 * them alike. Phases come from the trainer's own functions (`collectRollouts`/`generateGroups`,
 * `updatePolicy`), as `time/*_s` in metrics.jsonl.
 */
import { cpus, loadavg } from "node:os";
import { performance } from "node:perf_hooks";

import { resolveConfig } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { native } from "../sdk/native.js";
import { GateThreshold, type GateSettings } from "../sdk/gate_threshold.js";
import { coreObjective, objectiveRequirements, type ObjectiveConfig } from "../sdk/objectives.js";
import { Policy } from "../sdk/policy.js";
import { loadOptions } from "../trainer/session.js";
import { stepGate } from "../trainer/step_gate.js";
import { type TrainSequence, updatePolicy } from "../trainer/updates.js";
import { hashSeed } from "../util/random.js";
import { type StepFlops, stepFlops, matmulPeak } from "./flops.js";
import {
  STEP_SIZES,
  type StepRollout,
  type StepRollouts,
  type StepShape,
  type StepSize,
  stepWorkload,
} from "./step_workload.js";
import { type Spread, spread } from "./timing.js";

/** How GRPO gets its old log-probs (`none`: LGPO, which needs none). */
export type StepVariant = "none" | "recompute" | "skip_first" | "rollout_logprobs";

/** One configuration measured: an objective, its old-log-prob source, zero-advantage skipping. */
export interface StepCell {
  objective: "lgpo" | "grpo";
  variant: StepVariant;
  skipZeroAdvantage: boolean;
}

const OLD_LOGPROBS = { recompute: "recompute", skip_first: "skip_first", rollout_logprobs: "generation" } as const;

/** The GRPO baselines LGPO is compared with. */
export const STEP_BASELINES = ["recompute", "skip_first", "rollout_logprobs"] as const;

/** LGPO and the three GRPO variants, each with and without zero-advantage skipping. */
export const STEP_CELLS: StepCell[] = [true, false].flatMap((skipZeroAdvantage) => [
  { objective: "lgpo" as const, variant: "none" as const, skipZeroAdvantage },
  ...STEP_BASELINES.map((variant) => ({ objective: "grpo" as const, variant, skipZeroAdvantage })),
]);

/** What to measure. */
export interface StepBenchOptions {
  shape: StepShape;
  /** N_updates values, each measured in turn. */
  updates: number[];
  /** Timed steps per cell and N_updates, after one warm-up step. */
  repeats: number;
  /** Checkpoint instead of the shape's (tiny: models/countdown-tiny; half: a cached random one). */
  model?: string;
  cacheDir?: string;
  /** Kind of rollouts (default: tiny Countdown, half random); see {@link StepRollouts}. */
  rollouts?: StepRollouts;
  /** Batch geometry; defaults {@link STEP_SIZES}. */
  size?: Partial<StepSize>;
  /** Measure the GEMM peak and report MFU (default: for `half`). */
  peak?: boolean;
  seed?: number;
  /** The LGPO cells' gate section (default: the fixed τ); its τ is chosen inside the timed step. */
  gate?: GateSettings;
}

/** The phases of a step, as the trainer logs them (`time/*_s`). */
export interface StepPhases {
  generate_s: number;
  reward_s: number;
  old_logprob_s: number;
  update_s: number;
}

/** One cell at one N_updates: medians over the repeats, and each quantity's spread. */
export interface StepResult {
  shape: StepShape;
  objective: "lgpo" | "grpo";
  variant: StepVariant;
  skip_zero_advantage: boolean;
  n_updates: number;
  step_s: number;
  phases: StepPhases;
  spread: { step_s: Spread } & Record<keyof StepPhases, Spread>;
  /** Share of sequences with zero advantage (skipped when `skip_zero_advantage`), mean over the repeats. */
  zero_adv_frac: number;
  /** The same share in each timed repeat (each repeat has its own rollouts). */
  zero_adv_frac_per_repeat: number[];
  /** Sequences of the rollout batch, and those the old-log-prob pass scored (first repeat). */
  sequences: number;
  old_logprob_sequences: number;
  /** Prompt + response tokens of the rollout batch (of the first repeat). */
  tokens: number;
  /** Model FLOPs per second of the update phase and of the whole step over the GEMM peak. */
  mfu?: { update: number; step: number };
}

/** LGPO's step time over GRPO's for one baseline. */
export interface StepRatio {
  shape: StepShape;
  n_updates: number;
  baseline: (typeof STEP_BASELINES)[number];
  skip_zero_advantage: boolean;
  lgpo_over_grpo: number;
}

/** The `--json` report. */
export interface StepBenchReport {
  machine: {
    cpu: string;
    cores: number;
    threads: number;
    /** 1, 5 and 15 minute load averages at the start and the end. */
    load_average: { start: number[]; end: number[] };
    date: string;
    /** Best f32 matmul FLOP/s through candle (when measured). */
    gemm_peak_flops?: number;
  };
  settings: { model: string; repeats: number; seed: number } & StepSize;
  /**
   * Per N_updates, per repeat: the hash of the rollout every cell of that repeat trained on (the
   * bench fails when a cell's differs, so one hash stands for all of them).
   */
  rollout_hashes: Record<number, number[]>;
  results: StepResult[];
  ratios: StepRatio[];
}

/** Progress of one timed or warm-up step (stderr lines of the CLI). */
export interface StepProgress {
  cell: StepCell;
  nUpdates: number;
  /** 0 is the warm-up. */
  repeat: number;
  repeats: number;
  stepS: number;
  phases: StepPhases;
}

/** The label of a cell: `lgpo`, `grpo/recompute`, with `+skip0` when zero-advantage sequences are skipped. */
export function cellLabel(cell: StepCell): string {
  const name = cell.objective === "lgpo" ? "lgpo" : `grpo/${cell.variant}`;
  return cell.skipZeroAdvantage ? `${name}+skip0` : name;
}

interface TimedStep {
  stepS: number;
  phases: StepPhases;
  oldLogprobSequences: number;
  sequences: TrainSequence[];
}

function cellConfig(
  workload: Record<string, unknown>,
  model: string,
  cell: StepCell,
  n: number,
  seed: number,
  gate: GateSettings | undefined,
) {
  return resolveConfig({
    ...workload,
    model: { path: model },
    objective: { name: cell.objective, ...(cell.objective === "lgpo" && gate ? { gate } : {}) },
    trainer: {
      steps: 1,
      n_updates: n,
      skip_zero_advantage: cell.skipZeroAdvantage,
      ...(cell.objective === "grpo" ? { old_logprobs: OLD_LOGPROBS[cell.variant as keyof typeof OLD_LOGPROBS] } : {}),
    },
    logging: { progress: "none" },
    seed,
  });
}

/** A hash of a rollout batch's prompt and response tokens (its identity). */
function rolloutHash(sequences: readonly TrainSequence[]): number {
  return hashSeed(sequences.map((s) => `${s.promptIds.join(",")}|${s.responseIds.join(",")}`).join(";"));
}

/** Measures the cells at each N_updates; `onStep` sees every step as soon as it is done. */
export async function benchStep(
  options: StepBenchOptions,
  onStep: (p: StepProgress) => void = () => {},
): Promise<StepBenchReport> {
  const seed = options.seed ?? 0;
  const size = { ...STEP_SIZES[options.shape], ...options.size };
  const loadStart = loadavg();
  const gemmPeak = (options.peak ?? options.shape === "half") ? matmulPeak() : undefined;
  const workload = await stepWorkload(options.shape, size, {
    model: options.model,
    cacheDir: options.cacheDir,
    seed,
    ...(options.rollouts ? { rollouts: options.rollouts } : {}),
  });
  try {
    const step = async (cell: StepCell, n: number, repeat: number): Promise<TimedStep> => {
      const config = cellConfig(workload.config, workload.model, cell, n, seed, options.gate);
      const policy = await Policy.load(workload.model, loadOptions(config, n, false));
      try {
        return await timedStep(policy, config, (p) => workload.rollout(p, config, repeat));
      } finally {
        policy.dispose();
      }
    };
    const results: StepResult[] = [];
    const rolloutHashes: Record<number, number[]> = {};
    for (const [u, n] of options.updates.entries()) {
      rolloutHashes[n] = [];
      if (u === 0) {
        // Warm-up: one untimed step on each code path (generation, old log-prob pass, updates).
        for (const cell of STEP_CELLS.filter((c) => c.variant === "none" || c.variant === "recompute")) {
          if (!cell.skipZeroAdvantage) continue;
          const s = await step(cell, n, -1);
          onStep({ cell, nUpdates: n, repeat: 0, repeats: options.repeats, stepS: s.stepS, phases: s.phases });
        }
      }
      const timed = new Map<StepCell, TimedStep[]>(STEP_CELLS.map((c) => [c, []]));
      for (let r = 0; r < options.repeats; r++) {
        let hash: number | undefined;
        // Every other repeat in reverse, so that no cell always runs first or after the same one.
        for (const cell of r % 2 === 0 ? STEP_CELLS : [...STEP_CELLS].reverse()) {
          const s = await step(cell, n, r);
          hash ??= rolloutHash(s.sequences);
          if (rolloutHash(s.sequences) !== hash) {
            throw new Error(`bench step: ${cellLabel(cell)} got other rollouts than the first cell of repeat ${r + 1}`);
          }
          timed.get(cell)!.push(s);
          if (rolloutHashes[n]!.length === r) rolloutHashes[n]!.push(hash);
          onStep({ cell, nUpdates: n, repeat: r + 1, repeats: options.repeats, stepS: s.stepS, phases: s.phases });
        }
      }
      for (const cell of STEP_CELLS) {
        const steps = timed.get(cell)!;
        const flops =
          gemmPeak === undefined ? undefined : stepFlops(workload.model, steps[0]!.sequences, cell.skipZeroAdvantage);
        results.push(summarise(options.shape, cell, n, steps, flops, gemmPeak));
      }
    }
    return {
      machine: {
        cpu: cpus()[0]?.model ?? "unknown",
        cores: cpus().length,
        threads: native().computeThreads(),
        load_average: { start: loadStart, end: loadavg() },
        date: new Date().toISOString(),
        ...(gemmPeak !== undefined ? { gemm_peak_flops: gemmPeak } : {}),
      },
      settings: { model: workload.model, repeats: options.repeats, seed, ...size },
      rollout_hashes: rolloutHashes,
      results,
      ratios: stepRatios(results),
    };
  } finally {
    await workload.close();
  }
}

/** One RL step on `policy`, timed by phase with the trainer's own functions. */
async function timedStep(
  policy: Policy,
  config: RunConfig,
  rollout: (policy: Policy) => Promise<StepRollout>,
): Promise<TimedStep> {
  const t0 = performance.now();
  const batch = await rollout(policy);
  const objective: ObjectiveConfig = config.objective;
  const requirements = objectiveRequirements(objective);
  // The trainer's gate, timed with the step: τ from the sampler's log-probs (no extra pass). Each
  // bench step starts a fresh run, so a `target` controller is at its starting τ.
  const gate = requirements.usesGate
    ? stepGate(new GateThreshold(objective.gate), config.data.task, policy.tokenizer, batch.sequences)
    : undefined;
  const update = await updatePolicy(
    policy,
    batch.sequences,
    config.rollout.group_size,
    gate ? coreObjective(objective, gate.tau) : objective,
    requirements,
    config,
  );
  const stepS = (performance.now() - t0) / 1000;
  return {
    stepS,
    phases: {
      generate_s: batch.generateS,
      reward_s: batch.rewardS,
      old_logprob_s: update.oldLogprobS,
      update_s: update.updateS,
    },
    oldLogprobSequences: update.oldLogprobSequences,
    sequences: batch.sequences,
  };
}

function summarise(
  shape: StepShape,
  cell: StepCell,
  n: number,
  steps: TimedStep[],
  flops: StepFlops | undefined,
  peak: number | undefined,
): StepResult {
  const of = (f: (s: TimedStep) => number) => spread(steps.map(f));
  const s = {
    step_s: of((x) => x.stepS),
    generate_s: of((x) => x.phases.generate_s),
    reward_s: of((x) => x.phases.reward_s),
    old_logprob_s: of((x) => x.phases.old_logprob_s),
    update_s: of((x) => x.phases.update_s),
  };
  const sequences = steps[0]!.sequences;
  const zeroFracs = steps.map(
    (x) => x.sequences.filter((q) => q.advantage === 0).length / Math.max(1, x.sequences.length),
  );
  const result: StepResult = {
    shape,
    objective: cell.objective,
    variant: cell.variant,
    skip_zero_advantage: cell.skipZeroAdvantage,
    n_updates: n,
    step_s: s.step_s.median,
    phases: {
      generate_s: s.generate_s.median,
      reward_s: s.reward_s.median,
      old_logprob_s: s.old_logprob_s.median,
      update_s: s.update_s.median,
    },
    spread: s,
    zero_adv_frac: zeroFracs.reduce((a, b) => a + b, 0) / zeroFracs.length,
    zero_adv_frac_per_repeat: zeroFracs,
    sequences: sequences.length,
    old_logprob_sequences: steps[0]!.oldLogprobSequences,
    tokens: sequences.reduce((t, q) => t + q.promptIds.length + q.responseIds.length, 0),
  };
  if (flops && peak) {
    const pass = cell.variant === "recompute" ? 1 : cell.variant === "skip_first" ? (n - 1) / n : 0;
    const stepTotal = flops.generate + pass * flops.forward + flops.train;
    result.mfu = { update: flops.train / s.update_s.median / peak, step: stepTotal / s.step_s.median / peak };
  }
  return result;
}

/** LGPO over each GRPO baseline, at each N_updates and zero-advantage setting. */
export function stepRatios(results: readonly StepResult[]): StepRatio[] {
  const ratios: StepRatio[] = [];
  for (const lgpo of results.filter((r) => r.objective === "lgpo")) {
    for (const baseline of STEP_BASELINES) {
      const grpo = results.find(
        (r) =>
          r.objective === "grpo" &&
          r.variant === baseline &&
          r.n_updates === lgpo.n_updates &&
          r.skip_zero_advantage === lgpo.skip_zero_advantage &&
          r.shape === lgpo.shape,
      );
      if (grpo === undefined) continue;
      ratios.push({
        shape: lgpo.shape,
        n_updates: lgpo.n_updates,
        baseline,
        skip_zero_advantage: lgpo.skip_zero_advantage,
        lgpo_over_grpo: lgpo.step_s / grpo.step_s,
      });
    }
  }
  return ratios;
}

export { STEP_SHAPES, STEP_SIZES, type StepRollouts, type StepShape, type StepSize } from "./step_workload.js";
