/**
 * The metrics of one rollout step, with the keys documented in docs/run-directory.md: rollout
 * statistics over every generated sample, update statistics averaged over the step's optimizer
 * steps.
 */
import type { RolloutBatch } from "../rollout/rollout.js";
import type { UpdateResult } from "./updates.js";

function mean(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN;
}

function std(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.length ? Math.sqrt(mean(xs.map((x) => (x - m) ** 2))) : Number.NaN;
}

/** Mean of metric `key` over the optimizer steps that report it (undefined when none does). */
function stepMean(steps: readonly Record<string, number>[], key: string): number | undefined {
  const values = steps.map((s) => s[key]).filter((v): v is number => typeof v === "number");
  return values.length ? mean(values) : undefined;
}

/** Token statistics exist only for steps that evaluated a sequence (not all skipped for A = 0). */
const TOKEN_STATS = new Set(["logprob_mean", "ratio_mean", "approx_kl", "clip_frac_low", "clip_frac_high"]);

function evaluatedSomething(m: Record<string, number>): boolean {
  return (m.zero_adv_frac ?? 0) < 1 || (m.skipped_zero_adv ?? 0) === 0;
}

/** Rollout-side metrics of a step. */
export function rolloutMetrics(batch: RolloutBatch, maxNewTokens: number, successThreshold: number) {
  const samples = batch.generated.flatMap((g) => g.samples);
  const lengths = samples.map((s) => s.tokens.length);
  const entropies = samples.flatMap((s) => (s as { entropy?: number[] }).entropy ?? []);
  return {
    "reward/mean": mean(samples.map((s) => s.reward)),
    "reward/std": std(samples.map((s) => s.reward)),
    "reward/success_frac": mean(samples.map((s) => (s.score >= successThreshold ? 1 : 0))),
    "reward/errors": samples.filter((s) => s.status === "error").length,
    "reward/timeouts": samples.filter((s) => s.status === "timeout").length,
    "response_length/mean": mean(lengths),
    "response_length/max": Math.max(...lengths),
    "response_length/clip_frac": mean(
      samples.map((s) => (s.finishReason === "length" && s.tokens.length >= maxNewTokens ? 1 : 0)),
    ),
    ...(entropies.length ? { "entropy/mean": mean(entropies) } : {}),
  };
}

/** Update-side metrics of a step. */
export function updateMetrics(update: UpdateResult, advantages: readonly number[]): Record<string, number> {
  const s = update.steps;
  const out: Record<string, number> = {
    "advantage/mean": mean(advantages as number[]),
    "advantage/abs_mean": mean(advantages.map(Math.abs)),
    "skipped/nonfinite": s.reduce((a, m) => a + (m.skipped_nonfinite ?? 0), 0),
  };
  const mapping: [string, string][] = [
    ["gate/gated_frac", "gated_frac"],
    ["gate/zero_adv_frac", "zero_adv_frac"],
    ["gate/kept_nonzero_adv_frac", "kept_nonzero_adv_frac"],
    ["clip/frac_low", "clip_frac_low"],
    ["clip/frac_high", "clip_frac_high"],
    ["ratio/mean", "ratio_mean"],
    ["kl/old_approx", "approx_kl"],
    ["loss", "loss"],
    ["logprob/mean", "logprob_mean"],
    ["grad_norm", "grad_norm"],
  ];
  for (const [key, core] of mapping) {
    const v = stepMean(TOKEN_STATS.has(core) ? s.filter(evaluatedSomething) : s, core);
    if (v !== undefined) out[key] = v;
  }
  const mins = s.map((m) => m.ratio_min).filter((v): v is number => v !== undefined);
  const maxs = s.map((m) => m.ratio_max).filter((v): v is number => v !== undefined);
  if (mins.length) out["ratio/min"] = Math.min(...mins);
  if (maxs.length) out["ratio/max"] = Math.max(...maxs);
  const last = s.at(-1);
  if (last?.lr !== undefined) out.lr = last.lr;
  if (last?.step !== undefined) out.optimizer_steps = last.step;
  return out;
}
