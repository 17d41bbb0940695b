/**
 * The schema of a policy objective (the Rust core's `ObjectiveConfig`, snake_case as in YAML
 * configs): every rule, default and field doc, shared by run configs (config/schema.ts) and the
 * SDK's objective functions, whose `ObjectiveConfig` type is this schema's input.
 */
import { z } from "zod";

import { GATE_DEFAULTS, GATE_MODE_FIELDS } from "./gate_threshold.js";

/** Objectives of the registry (paper Sections 3-5). */
export const OBJECTIVE_NAMES = [
  "lgpo",
  "lgpo_random_gate",
  "lgpo_positive_only",
  "lgpo_stochastic",
  "grpo",
  "grpo_no_correction",
  "grpo_no_clip",
  "pg",
  "gspo",
  "dapo",
] as const;

/** The objective of a config or SDK call that names none. */
export const DEFAULT_OBJECTIVE = "lgpo";

const probability = () => z.number().min(0).max(1);

const D = GATE_DEFAULTS;

/**
 * Defaults of the objective section that the core states (keys relative to the section): the
 * config docs print their values, read through the addon when the docs are rendered, not at
 * import.
 */
export const CORE_STATED_DEFAULTS: Readonly<Record<string, () => unknown>> = { "gate.tau": () => D.tau };
const gateSection = z
  .object({
    mode: z
      .enum(["fixed", "quantile", "target"])
      .optional()
      .describe(
        `How τ is chosen each rollout step (default \`${D.mode}\`, the paper's): \`fixed\` (τ = \`tau\`), \`quantile\` (τ = the \`q\`-quantile of the rollout's mean log-likelihoods, from the sampler's log-probs: the most confident 1 − q of each batch are gated), \`target\` (a controller moves τ after each step so that the fraction of the rollout above τ tracks \`target\`). docs/gate.md says which quantity each thresholds.`,
      ),
    tau: z
      .number()
      .max(0)
      .optional()
      .describe(
        `τ: sequences whose mean token log-likelihood under the current policy exceeds τ are gated out (default: the paper's, stated by the core as \`objectives::DEFAULT_TAU\`: a mean token probability above 0.86). \`target\` mode: the controller's starting τ.`,
      ),
    tau_low: z.number().optional().describe("Also gate sequences whose mean log-likelihood is below this."),
    probability: probability()
      .optional()
      .describe("`lgpo_stochastic` only: probability that a flagged sequence is gated (default 0.5)."),
    q: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe(`\`quantile\` mode: the quantile of the rollout's mean log-likelihoods used as τ (default ${D.q}).`),
    target: z
      .number()
      .gt(0)
      .lt(1)
      .optional()
      .describe(
        `\`target\` mode: the fraction of the rollout above τ that the controller aims at (default ${D.target}).`,
      ),
    rate: z
      .number()
      .positive()
      .optional()
      .describe(
        `\`target\` mode: controller gain; each step |τ| is multiplied by exp(−rate · e), e = clip(fraction / target − 1, −1, 1) (default ${D.rate}).`,
      ),
    tau_min: z.number().max(0).optional().describe(`\`target\` mode: lowest τ (default ${D.tau_min}).`),
    tau_max: z.number().lt(0).optional().describe(`\`target\` mode: highest τ (default ${D.tau_max}).`),
    exclude_forced: z
      .boolean()
      .optional()
      .describe(
        `Leave the tokens the task's format forces (Countdown's think/answer tags and the stop token after the answer) out of the mean log-likelihood, so it measures the model's choices (default ${D.exclude_forced}; Countdown only).`,
      ),
  })
  .strict()
  .superRefine((gate, ctx) => {
    const mode = gate.mode ?? D.mode;
    const own = new Set<string>([...GATE_MODE_FIELDS[mode], "mode", "tau_low", "probability", "exclude_forced"]);
    for (const key of Object.keys(gate)) {
      if (!own.has(key) && (gate as Record<string, unknown>)[key] !== undefined) {
        ctx.addIssue({ code: "custom", path: [key], message: `only applies to another gate mode than \`${mode}\`` });
      }
    }
    const lo = gate.tau_min ?? D.tau_min;
    const hi = gate.tau_max ?? D.tau_max;
    if (mode === "target" && !(lo < hi)) {
      ctx.addIssue({ code: "custom", path: ["tau_min"], message: `must be below tau_max (${hi}), got ${lo}` });
    } else if (mode === "target" && gate.tau !== undefined && (gate.tau < lo || gate.tau > hi)) {
      ctx.addIssue({
        code: "custom",
        path: ["tau"],
        message: `the starting τ must lie in [${lo}, ${hi}], got ${gate.tau}`,
      });
    }
  })
  // The resolved config (and so the run directory's config.yaml) records the values the gate
  // uses: its mode and that mode's own fields, defaults included.
  .transform((gate) => {
    const mode = gate.mode ?? D.mode;
    const used: Record<string, unknown> = { mode };
    for (const key of GATE_MODE_FIELDS[mode]) used[key] = gate[key] ?? D[key as keyof typeof D];
    return { ...gate, ...used } as typeof gate;
  })
  .optional()
  .describe("The likelihood gate; only for the `lgpo*` objectives.");

const objectiveObject = z
  .object({
    name: z
      .enum(OBJECTIVE_NAMES)
      .default(DEFAULT_OBJECTIVE)
      .describe(
        "Policy objective: `lgpo` (likelihood gate, no importance ratio, no old-policy pass; paper Sec. 4), its gate ablations `lgpo_random_gate`, `lgpo_positive_only`, `lgpo_stochastic` (Sec. 5.2), `grpo` (PPO clip on the token ratio), `grpo_no_correction`, `grpo_no_clip`, `pg` (GRPO without correction and clipping; Sec. 3.1), `gspo` (sequence-level ratio), `dapo` (clip-higher 0.2/0.28, token-mean).",
      ),
    aggregation: z
      .enum(["token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "sum"])
      .optional()
      .describe(
        "How per-token losses become one scalar (verl's `agg_loss`); unset takes the objective's default (token-mean; gspo: seq-mean-token-mean).",
      ),
    clip: z
      .object({
        low: z
          .number()
          .positive()
          .optional()
          .describe("The ratio is clipped at 1 − low (grpo 0.2, dapo 0.2, gspo 3e-4)."),
        high: z
          .number()
          .positive()
          .optional()
          .describe("The ratio is clipped at 1 + high (grpo 0.2, dapo 0.28, gspo 4e-4)."),
        dual: z.number().gt(1).optional().describe("Dual-clip constant c > 1: for A < 0 the loss is capped at −c·A."),
      })
      .strict()
      .optional()
      .describe("Ratio clipping; only for ratio-based objectives (grpo family, gspo, dapo)."),
    gate: gateSection,
    kl: z
      .object({
        coef: z.number().min(0).default(0).describe("Coefficient of a per-token KL penalty to the initial policy."),
        estimator: z.enum(["k1", "k3"]).default("k3").describe("Per-token KL estimator."),
      })
      .strict()
      .optional()
      .describe("KL penalty to the initial policy; off in the paper (coefficient 0)."),
    entropy_coef: z.number().default(0).describe("Entropy bonus coefficient (0: off, as in the paper)."),
  })
  .strict();

/** The objective section of a run config: the core's `ObjectiveConfig` with its rules and docs. */
export const ObjectiveSchema = objectiveObject
  .prefault({})
  .describe("The policy objective (the core's ObjectiveConfig; paper Sections 3-5).");

/**
 * A policy objective and the settings of the mechanisms it uses, as a config or an SDK caller
 * writes it; unset fields take defaults (the objective `lgpo`).
 */
export type ObjectiveConfig = z.input<typeof objectiveObject>;
