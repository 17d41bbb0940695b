/**
 * The schema of the core's training settings (`lgpo_core::policy::TrainConfig`, snake_case as in
 * YAML configs). The SDK's `TrainConfig` type is its input; `Policy.load` checks `train` with it,
 * naming the bad field; run configs (config/schema.ts) take the optimizer and the shared fields from
 * here. Its defaults are the core's (a test compares them with `defaultTrainConfig()`).
 */
import { z } from "zod";

/** AdamW's hyper-parameters. */
export const OptimizerSchema = z
  .object({
    lr: z.number().min(0).default(1e-6).describe("AdamW learning rate (1e-6: verl's GRPO default)."),
    beta1: z.number().min(0).lt(1).default(0.9).describe("AdamW β1."),
    beta2: z.number().min(0).lt(1).default(0.999).describe("AdamW β2."),
    eps: z.number().gt(0).default(1e-8).describe("AdamW ε."),
    weight_decay: z.number().min(0).default(0.01).describe("Decoupled weight decay."),
  })
  .strict()
  .prefault({})
  .describe("AdamW (f32 master weights and moments).");

const steps = () => z.int().min(0);

/** The learning-rate schedule over optimizer steps, as the core takes it (the cosine's length given). */
export const CoreScheduleSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("constant") }).strict(),
  z.object({ kind: z.literal("linear_warmup"), warmup_steps: steps() }).strict(),
  z
    .object({
      kind: z.literal("cosine"),
      warmup_steps: steps(),
      total_steps: steps(),
      min_ratio: z.number().min(0).max(1),
    })
    .strict(),
]);

/** Fields that run configs' `trainer` section states as the core does. */
export const SHARED_TRAIN_FIELDS = {
  max_grad_norm: z.number().positive().nullable().default(1).describe("Global gradient-norm clip (null: off)."),
  micro_batch_size: z
    .int()
    .min(1)
    .default(8)
    .describe("Sequences per forward/backward (gradient accumulation is exact across micro-batches)."),
  skip_zero_advantage: z
    .boolean()
    .default(true)
    .describe("Skip sequences with A = 0 in forward and backward (exact: their gradient is zero)."),
  activation_checkpointing: z
    .boolean()
    .default(false)
    .describe("Recompute each decoder layer's forward in the backward (less memory, ~30% more compute)."),
};

/** The core's `TrainConfig`. */
export const TrainConfigSchema = z
  .object({
    optimizer: OptimizerSchema,
    schedule: CoreScheduleSchema.default({ kind: "constant" }),
    ...SHARED_TRAIN_FIELDS,
    seed: z.int().min(0).default(0).describe("Seed of the random gates' streams (combined with the step)."),
    logprob_temperature: z
      .number()
      .min(0)
      .default(1)
      .describe(
        "Softmax temperature of the log-probs of training steps and `logprobs`: the rollouts' sampling temperature, " +
          "so the policy trained is the one that sampled; 0 (greedy rollouts, which have no sampling distribution) " +
          "scores at 1.",
      ),
  })
  .strict();

/** Training settings of {@link Policy.load} (every field optional; defaults are the core's). */
export type TrainConfig = z.input<typeof TrainConfigSchema>;

/** `train` checked and completed with the defaults; throws a TypeError naming the bad field. */
export function parseTrainConfig(train: unknown): z.output<typeof TrainConfigSchema> {
  const parsed = TrainConfigSchema.safeParse(train ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = ["train", ...issue.path.map(String)].join(".");
  throw new TypeError(`${where}: ${issue.message}`);
}
