/**
 * LGPO's gate in a rollout step: τ chosen from what the step already has (the sampler's
 * log-probs, docs/gate.md), and the gate's metrics. Shared by the trainer and `bench step`.
 */
import { forcedFormatTokens } from "../data/forced_format.js";
import type { Task } from "../data/tasks.js";
import type { GateThreshold } from "../sdk/gate_threshold.js";
import { meanLoglikelihood } from "../sdk/gate_threshold.js";
import type { Tokenizer } from "../sdk/tokenizer.js";
import type { TrainSequence } from "./updates.js";

/** The threshold of one step and each sequence's ℓ̄ it was chosen from. */
export interface StepGate {
  tau: number;
  means: number[];
}

/**
 * Marks the forced tokens when the gate asks, takes each sequence's ℓ̄ from its sampling
 * log-probs (the policy's own before the step's first update) and chooses τ from them.
 */
export function stepGate(
  gate: GateThreshold,
  task: Task["kind"],
  tokenizer: Tokenizer | undefined,
  sequences: TrainSequence[],
): StepGate {
  const means = gateMeans(gate, task, tokenizer, sequences);
  return { tau: gate.threshold(means), means };
}

/**
 * Marks the forced tokens when the gate asks and returns each sequence's ℓ̄ from its sampling
 * log-probs (a data-parallel rank gathers the step's before choosing τ).
 */
export function gateMeans(
  gate: GateThreshold,
  task: Task["kind"],
  tokenizer: Tokenizer | undefined,
  sequences: TrainSequence[],
): number[] {
  if (gate.excludesForced) {
    if (tokenizer === undefined) throw new Error("objective.gate.exclude_forced needs the checkpoint's tokenizer");
    for (const s of sequences) s.forcedTokens = forcedFormatTokens(task, tokenizer, s.responseIds);
  }
  return sequences.map((s) => meanLoglikelihood(s.samplingLogprobs, s.forcedTokens));
}

/** Share of the positive-advantage sequences that the gate dropped (undefined when there are none). */
export function positiveGatedFraction(
  advantages: readonly number[],
  gated: readonly (boolean | null)[],
): number | undefined {
  const positive = advantages.map((a, i) => [a, gated[i]] as const).filter(([a]) => a > 0);
  return positive.length ? positive.filter(([, g]) => g === true).length / positive.length : undefined;
}

/** `gate/tau` (the threshold used) and `gate/positive_gated_frac`. */
export function gateMetrics(
  tau: number,
  advantages: readonly number[],
  gated: readonly (boolean | null)[],
): Record<string, number> {
  const positive = positiveGatedFraction(advantages, gated);
  return { "gate/tau": tau, ...(positive !== undefined ? { "gate/positive_gated_frac": positive } : {}) };
}
