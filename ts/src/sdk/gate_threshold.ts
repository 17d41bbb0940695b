/**
 * The threshold τ of LGPO's likelihood gate, chosen before each rollout step (docs/gate.md).
 *
 * The core gates a sequence when its mean token log-likelihood ℓ̄ under the current policy
 * exceeds the τ it is given. Which τ:
 * - `fixed`: the configured τ every step (the paper's gate, τ = −0.15).
 * - `quantile`: the q-quantile of the rollout's ℓ̄, so the most confident 1 − q of each batch
 *   are gated whatever the model's scale.
 * - `target`: a controller (in the spirit of the adaptive KL controller of Ziegler et al.) that
 *   moves τ after each step so that the fraction of the rollout above τ tracks a target.
 *
 * The rollout's ℓ̄ come from the sampler's log-probs, which are the current policy's own at the
 * rollout temperature before the step's first update: no extra pass, and known before the first
 * micro-batch's backward (which a quantile of the update's own statistics would have to wait
 * for). Within a step τ stays fixed, so later minibatches gate what the earlier updates pushed
 * above it: a trust region around the policy that sampled.
 */
import { native } from "./native.js";

/** The gate section of an `lgpo*` objective as a run config writes it (the schema validates it). */
export interface GateSettings {
  /** How τ is chosen each step (default `fixed`). */
  mode?: GateMode;
  /** `fixed`: the threshold (default −0.15); `target`: the controller's starting τ (default −0.15). */
  tau?: number;
  /** Also gate sequences whose ℓ̄ is below this (two-sided gate). */
  tau_low?: number;
  /** `lgpo_stochastic`: probability that a flagged sequence is gated. */
  probability?: number;
  /** `quantile`: τ is the q-quantile of the rollout's ℓ̄ (default 0.9: the top 10% are gated). */
  q?: number;
  /** `target`: the fraction of the rollout above τ the controller aims at (default 0.1). */
  target?: number;
  /** `target`: the controller's gain per step (default 0.1: |τ| moves by at most ~10% a step). */
  rate?: number;
  /** `target`: τ is kept in [tau_min, tau_max] (default [−2, −0.005]). */
  tau_min?: number;
  tau_max?: number;
  /**
   * Leave the tokens the task forces (Countdown's think/answer tags) out of ℓ̄ (default false).
   * The trainer marks them; a scripted loop passes `forcedFormatTokens(...)` rows as
   * `Minibatch.forcedTokens` (`Policy.trainStep` reads the marks, not this flag).
   */
  exclude_forced?: boolean;
}

export type GateMode = "fixed" | "quantile" | "target";

let defaultTau: number | undefined;

/**
 * The defaults of {@link GateSettings}, stated once (the schema's docs quote them); τ is the
 * core's (`objectives::DEFAULT_TAU`), read through the addon on first use, so that importing the
 * package does not load the addon.
 */
export const GATE_DEFAULTS = {
  mode: "fixed" as GateMode,
  get tau(): number {
    defaultTau ??= native().defaultGateTau();
    return defaultTau;
  },
  q: 0.9,
  target: 0.1,
  rate: 0.1,
  tau_min: -2,
  tau_max: -0.005,
  exclude_forced: false,
};

/** The fields each mode reads besides `tau_low`, `probability` and `exclude_forced`. */
export const GATE_MODE_FIELDS: Record<GateMode, readonly (keyof GateSettings)[]> = {
  fixed: ["tau"],
  quantile: ["q"],
  target: ["tau", "target", "rate", "tau_min", "tau_max"],
};

/** What a run carries across steps (saved in checkpoints): the controller's τ, else null. */
export interface GateThresholdState {
  tau: number | null;
}

/** The q-quantile of `values` by linear interpolation between order statistics (numpy's default). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("quantile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * One controller update: with e = clip(flagged / target − 1, −1, 1), |τ| ← |τ| · exp(−rate · e),
 * clamped to [tau_min, tau_max]. Gating more than the target moves τ toward 0 (fewer sequences
 * exceed it); gating less moves it away. Multiplicative in |τ|, so it works at any scale.
 */
export function controllerUpdate(
  tau: number,
  flaggedFraction: number,
  settings: { target: number; rate: number; tau_min: number; tau_max: number },
): number {
  const error = Math.max(-1, Math.min(1, flaggedFraction / settings.target - 1));
  const next = tau * Math.exp(-settings.rate * error);
  return Math.max(settings.tau_min, Math.min(settings.tau_max, next));
}

/** Mean of the counted entries of `logprobs` (0 when none counts, as the core's ℓ̄). */
export function meanLoglikelihood(logprobs: readonly number[], forced?: readonly boolean[]): number {
  let sum = 0;
  let n = 0;
  logprobs.forEach((lp, i) => {
    if (!forced?.[i]) {
      sum += lp;
      n++;
    }
  });
  return n > 0 ? sum / n : 0;
}

/** Chooses τ step by step for one run; see the module comment. */
export class GateThreshold {
  private readonly settings: Required<Omit<GateSettings, "tau_low" | "probability">>;
  private tau: number | null;

  constructor(gate: GateSettings | undefined, state?: GateThresholdState) {
    this.settings = { ...GATE_DEFAULTS, ...stripUndefined(gate ?? {}) };
    const s = this.settings;
    this.tau = s.mode === "target" ? (state?.tau ?? s.tau) : null;
  }

  get mode(): GateMode {
    return this.settings.mode;
  }

  get excludesForced(): boolean {
    return this.settings.exclude_forced;
  }

  /** τ for a step whose rollout has mean log-likelihoods `means` (the sampler's, one per sequence). */
  threshold(means: readonly number[]): number {
    const s = this.settings;
    if (s.mode === "quantile") return quantile(means, s.q);
    return this.tau ?? s.tau;
  }

  /** After a step gated at `tau`: the controller moves τ from the fraction of `means` above it. */
  observe(means: readonly number[], tau: number): void {
    if (this.settings.mode !== "target" || means.length === 0) return;
    const flagged = means.filter((m) => m > tau).length / means.length;
    this.tau = controllerUpdate(this.tau ?? tau, flagged, this.settings);
  }

  /** What a checkpoint keeps. */
  get state(): GateThresholdState {
    return { tau: this.tau };
  }
}

/** The core's gate section for one step at threshold `tau` (the core knows τ only). */
export function coreGate(
  gate: GateSettings | undefined,
  tau: number | undefined,
): { tau?: number; tau_low?: number; probability?: number } {
  return {
    ...(tau !== undefined ? { tau } : gate?.tau !== undefined && gate.mode !== "quantile" ? { tau: gate.tau } : {}),
    ...(gate?.tau_low !== undefined ? { tau_low: gate.tau_low } : {}),
    ...(gate?.probability !== undefined ? { probability: gate.probability } : {}),
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
