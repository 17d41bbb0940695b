/**
 * Policy objectives: their configs (the Rust core's `ObjectiveConfig`, snake_case as in YAML
 * configs; the schema in objective_schema.ts) and the core's pure function that evaluates one on
 * per-token log-probs.
 */
import { coreGate, GATE_DEFAULTS } from "./gate_threshold.js";
import { DEFAULT_OBJECTIVE, OBJECTIVE_NAMES, type ObjectiveConfig } from "./objective_schema.js";
import { native } from "./native.js";
import { assertFlagRows, assertNumbers, assertRows } from "./validate.js";

export { OBJECTIVE_NAMES, type ObjectiveConfig } from "./objective_schema.js";

export type ObjectiveName = (typeof OBJECTIVE_NAMES)[number];

/** How per-token losses become one scalar (verl's `agg_loss` modes). */
export type Aggregation = NonNullable<ObjectiveConfig["aggregation"]>;

/** Per-token inputs of {@link evaluateObjective}: one row per sequence. */
export interface EvaluateInputs {
  logprobs: number[][];
  oldLogprobs?: number[][];
  refLogprobs?: number[][];
  entropy?: number[][];
  /** One advantage per sequence. */
  advantages: number[];
  /** Per token: forced by the task's format, so left out of the gate's mean log-likelihood. */
  forcedTokens?: boolean[][];
  /** Seed of the random gates. */
  seed?: number;
}

/** Loss, dL/dlogp for every token, and the objective's metrics. */
export interface EvaluateResult {
  loss: number;
  gradLogprobs: number[][];
  metrics: Record<string, number>;
}

/**
 * Evaluates `config` on per-token log-probs: the loss, dL/dlogp for every token (which
 * determines the whole update) and the metrics (`gated_frac`, `clip_frac_low`, ...).
 */
export function evaluateObjective(config: ObjectiveConfig, inputs: EvaluateInputs): EvaluateResult {
  if (!Array.isArray(inputs.logprobs)) throw new TypeError("logprobs must be an array of rows");
  inputs.logprobs.forEach((row, i) => {
    assertNumbers(row, `logprobs[${i}]`);
  });
  const lengths = inputs.logprobs.map((row) => row.length);
  assertNumbers(inputs.advantages, "advantages");
  if (inputs.oldLogprobs !== undefined) assertRows(inputs.oldLogprobs, "oldLogprobs", lengths);
  if (inputs.refLogprobs !== undefined) assertRows(inputs.refLogprobs, "refLogprobs", lengths);
  if (inputs.entropy !== undefined) assertRows(inputs.entropy, "entropy", lengths);
  if (inputs.forcedTokens !== undefined) assertFlagRows(inputs.forcedTokens, "forcedTokens", lengths);
  return native().evaluateObjective(coreObjective(config), inputs);
}

/** What an objective needs from the trainer. */
export interface ObjectiveRequirements {
  name: ObjectiveName;
  /** Old-policy log-probs: ratio-based objectives. LGPO never needs them. */
  needsOldLogprobs: boolean;
  /** Reference log-probs: a KL penalty is on. */
  needsRefLogprobs: boolean;
  /**
   * Sequences with advantage 0 contribute nothing (no KL or entropy term, not a whole-batch
   * objective): with `trainer.skip_zero_advantage` the trainer leaves them out of the update and
   * of the old-log-prob pass.
   */
  skipsZeroAdvantage: boolean;
  /** The loss aggregation in use (the objective's default when the config sets none). */
  aggregation: Aggregation;
  /** LGPO's likelihood gate (the `lgpo*` objectives): a `gate` section applies and τ is chosen per step. */
  usesGate: boolean;
}

/** Builds `config`'s objective in the core (throwing, with the bad field named, if it is invalid) and says what it needs. */
export function objectiveRequirements(config: ObjectiveConfig): ObjectiveRequirements {
  const r = native().objectiveRequirements(coreObjective(config, undefined, "check"));
  return { ...r, name: r.name as ObjectiveName, aggregation: r.aggregation as Aggregation };
}

/**
 * The core's form of `config`, gated at `tau` when given: the core knows a fixed τ only. A
 * per-step mode (`quantile`, `target`) needs that τ, except for a `check` of the config.
 */
export function coreObjective(config: ObjectiveConfig, tau?: number, use: "run" | "check" = "run"): ObjectiveConfig {
  // The schema's default objective; every other rule the core checks, naming the field.
  const named = { ...config, name: config.name ?? DEFAULT_OBJECTIVE };
  const { gate, ...rest } = named;
  if (gate === undefined) return named;
  const mode = gate.mode ?? "fixed";
  if (mode !== "fixed" && tau === undefined && use === "run") {
    throw new TypeError(
      `objective.gate.mode \`${mode}\` chooses τ per rollout step: resolve it with GateThreshold (the trainer does) and pass objective.gate.tau`,
    );
  }
  const core = coreGate(gate, tau);
  // A check must still show the core a gate section (an objective without a gate refuses it).
  if (use === "check" && core.tau === undefined) core.tau = gate.tau ?? GATE_DEFAULTS.tau;
  return { ...rest, gate: core };
}

/** The objectives namespace of the SDK. */
export const objectives = {
  names: OBJECTIVE_NAMES,
  evaluate: evaluateObjective,
  requirements: objectiveRequirements,
};
