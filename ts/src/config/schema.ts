/**
 * The training config: one zod schema that holds every default, every validation rule and the
 * documentation of every field. `lgpo-run train --help` and docs/config.md are generated from it
 * (config/docs.ts), so nothing here is written twice. YAML keys are snake_case, as in the Rust
 * core's configs. The paper's settings (Section 5) are the defaults where the paper gives them.
 */
import { z } from "zod";

import { ObjectiveSchema } from "../sdk/objective_schema.js";
import { OptimizerSchema, SHARED_TRAIN_FIELDS } from "../sdk/train_config.js";

/** A strict object section whose fields all have defaults, so the section itself may be omitted. */
function section<T extends z.ZodRawShape>(shape: T, description: string) {
  // `prefault` parses the empty default through the schema, so every field gets its own default.
  const object = z.object(shape).strict();
  return object.prefault({} as z.input<typeof object>).describe(description);
}

const positiveInt = () => z.int().min(1);
const nonNegativeInt = () => z.int().min(0);
const probability = () => z.number().min(0).max(1);

const model = z
  .object({
    path: z
      .string()
      .min(1)
      .describe(
        "Checkpoint to train: a local Hugging Face directory (config.json + safetensors + tokenizer files), or a Hugging Face id `org/name` resolved through the standard hub cache.",
      ),
    revision: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe("Branch, tag or commit of a Hugging Face id (`model.path`); null takes `main`."),
    device: z
      .string()
      .regex(/^(cpu|cuda(:\d+)?)$/, "expected cpu, cuda or cuda:N")
      .default("cpu")
      .describe("Compute device: `cpu`, `cuda` or `cuda:N`."),
    dtype: z
      .enum(["auto", "f32", "bf16", "f16"])
      .default("auto")
      .describe(
        "Compute dtype of weights and activations; `auto` is f32 on CPU and bf16 on CUDA. Master weights, optimizer state, log-sum-exp and loss stay f32.",
      ),
  })
  .strict()
  .describe("The policy checkpoint and where it runs.");

const data = z
  .object({
    task: z
      .enum(["countdown", "math"])
      .describe("`countdown` (TinyZero's task and reward) or `math` (boxed answers, the math verifier)."),
    dataset: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        "Training prompts: a .jsonl or .parquet file, a named dataset under $LGPO_DATA_DIR (math500, aime24, aime25, olympiadbench, math_train, countdown_train, countdown_test), or `hf://datasets/org/name`. null with `task: countdown` uses the seeded Countdown generator.",
      ),
    split: z.string().default("train").describe("Split of an `hf://datasets/...` dataset."),
    fields: section(
      {
        problem: z
          .string()
          .nullable()
          .default(null)
          .describe("Math: field with the problem text; null tries `problem`, then `question`."),
        answer: z
          .string()
          .nullable()
          .default(null)
          .describe(
            "Math: field with the gold answer; null tries `answer`, `golden_answer`, `final_answer`, `expected_answer`.",
          ),
      },
      "Field mapping of dataset rows.",
    ),
    generator: section(
      {
        min_nums: positiveInt().default(3).describe("Fewest numbers per generated Countdown task."),
        max_nums: positiveInt().default(4).describe("Most numbers per generated Countdown task."),
        max_number: positiveInt().default(99).describe("Numbers are drawn from [1, max_number]."),
        min_target: nonNegativeInt().default(10).describe("Smallest target."),
        max_target: positiveInt().default(99).describe("Largest target."),
        size: positiveInt()
          .default(10_000)
          .describe("Tasks per generated epoch (the generator is seeded by `seed` and the epoch)."),
      },
      "The seeded Countdown generator (used when `data.dataset` is null); every task is solvable by construction.",
    ),
    prompt: section(
      {
        template: z
          .enum(["auto", "tinyzero", "chat", "compact", "qwen_math", "plain"])
          .default("auto")
          .describe(
            "Prompt format. Countdown: `tinyzero` (TinyZero's think/answer completion prompt for base models) or `chat` (the same instruction through the checkpoint's chat template, as TinyZero's instruct variant) or `compact` (a one-line task statement ending in `<think>`, for small models where the prompt dominates the cost). Math: `qwen_math` (chat template with the Qwen2.5-Math system prompt) or `plain` (problem + instruction as raw text). `auto`: the chat form when the checkpoint has a chat template, else tinyzero / plain.",
          ),
        system: z
          .string()
          .nullable()
          .default(null)
          .describe("Override the system prompt of the chat forms (null keeps the template's)."),
      },
      "How a task becomes the prompt text.",
    ),
    shuffle: z.boolean().default(true).describe("Shuffle the training prompts each epoch (seeded)."),
    limit: positiveInt().nullable().default(null).describe("Use at most this many training examples."),
    bad_lines: z
      .enum(["error", "skip"])
      .default("error")
      .describe(
        "A malformed dataset line: `error` stops before training (file and line named), `skip` drops it and reports the count.",
      ),
  })
  .strict()
  .describe("Training data and prompts.");

const reward = section(
  {
    function: z
      .string()
      .nullable()
      .default(null)
      .describe(
        "Reward: null takes the task's verifier (countdown: TinyZero's 1 / 0.1 / 0; math: 1 for an equivalent boxed answer). A path to a JS module whose default export `(input) => number` is a custom reward.",
      ),
    timeout_ms: positiveInt()
      .default(10_000)
      .describe("Per-sample timeout; a reward that throws or times out scores `failure_score` and is counted."),
    failure_score: z.number().default(0).describe("Score of a sample whose reward threw or timed out."),
    workers: positiveInt().nullable().default(null).describe("Math verifier worker threads (null: cores, at most 4)."),
    success_threshold: z
      .number()
      .default(1)
      .describe("A rollout counts as solved (`reward/success_frac`) when its reward is at least this."),
  },
  "Reward scoring.",
);

const rollout = section(
  {
    prompts_per_step: positiveInt()
      .default(128)
      .describe("B: prompts per rollout batch (paper: 128 Countdown, 256 math)."),
    group_size: positiveInt().default(8).describe("G: samples per prompt (paper: 8)."),
    max_new_tokens: positiveInt().default(1024).describe("Response length limit in tokens."),
    temperature: z
      .number()
      .min(0)
      .default(1)
      .describe(
        "Sampling temperature of rollouts; the objective's log-probs are those of the same softmax(logits / temperature), as in verl and TRL (0: greedy, scored at 1).",
      ),
    top_p: z.number().gt(0).max(1).default(1).describe("Nucleus sampling threshold of rollouts (1: off)."),
    top_k: nonNegativeInt().default(0).describe("Top-k of rollouts (0: off)."),
    generation_batch_size: positiveInt()
      .default(64)
      .describe(
        "Rows generated together (bounds memory); a multiple of group_size keeps groups together. Rewards of a chunk are scored while the next chunk generates.",
      ),
    advantage: section(
      {
        scale: z
          .enum(["group_std", "batch_std", "none"])
          .default("group_std")
          .describe(
            "A = (R − group mean) / scale: `group_std` (GRPO), `batch_std` (std over the whole batch), `none` (Dr. GRPO).",
          ),
        eps: z.number().min(0).default(1e-6).describe("Added to the standard deviation."),
      },
      "Group-relative advantages.",
    ),
    dynamic_sampling: section(
      {
        enabled: z
          .boolean()
          .default(false)
          .describe("DAPO dynamic sampling: drop groups whose rewards are all equal and draw more prompts."),
        max_extra_batches: nonNegativeInt()
          .default(4)
          .describe("Extra prompt batches drawn at most per step to fill the batch; then train on what there is."),
      },
      "DAPO's dynamic sampling.",
    ),
    overlong: section(
      {
        enabled: z.boolean().default(false).describe("DAPO overlong reward shaping."),
        buffer: positiveInt()
          .default(256)
          .describe("Responses longer than max_new_tokens − buffer are penalised linearly, up to `penalty`."),
        penalty: z.number().min(0).default(1).describe("Penalty at max_new_tokens."),
      },
      "DAPO's soft overlong punishment.",
    ),
  },
  "Rollout generation and advantages.",
);

const schedule = section(
  {
    kind: z
      .enum(["constant", "linear_warmup", "cosine"])
      .default("constant")
      .describe("Learning-rate schedule over optimizer steps."),
    warmup_steps: nonNegativeInt().default(0).describe("Linear warm-up steps (linear_warmup, cosine)."),
    min_ratio: probability().default(0).describe("Cosine: final rate as a fraction of `optimizer.lr`."),
  },
  "Learning-rate schedule; the cosine's length is the run's total optimizer steps.",
);

const trainer = section(
  {
    steps: positiveInt().nullable().default(null).describe("Rollout steps to run (one of steps / epochs)."),
    epochs: z
      .number()
      .positive()
      .nullable()
      .default(null)
      .describe("Passes over the training prompts (one of steps / epochs; the paper reports one epoch)."),
    n_updates: positiveInt()
      .default(2)
      .describe(
        "N_updates: minibatches, so optimizer steps, per rollout batch (paper: 2 Countdown, 4 math; 1 = fully on-policy).",
      ),
    minibatch_size: positiveInt()
      .nullable()
      .default(null)
      .describe(
        "Prompts per minibatch (paper: 64); null derives prompts_per_step / n_updates. If both are set they must agree.",
      ),
    micro_batch_size: SHARED_TRAIN_FIELDS.micro_batch_size,
    skip_zero_advantage: SHARED_TRAIN_FIELDS.skip_zero_advantage,
    old_logprobs: z
      .enum(["recompute", "skip_first", "generation"])
      .default("skip_first")
      .describe(
        "Ratio-based objectives: `skip_first` (the default: exact, and the cheapest exact pass) takes the first minibatch's old log-probs from its own forward, since its old policy is the current one, and runs a no-grad pass over the other minibatches only (none at n_updates = 1); `recompute` runs the pass over the whole rollout batch (what verl does); `generation` uses the sampling log-probs (exact without top-k/top-p, at any temperature, but they come from the decode path, so they differ from the training forward by float summation order). LGPO needs none.",
      ),
    optimizer: OptimizerSchema,
    schedule,
    max_grad_norm: SHARED_TRAIN_FIELDS.max_grad_norm,
    max_nonfinite_in_a_row: positiveInt()
      .default(3)
      .describe("A non-finite loss or gradient skips that optimizer step; the run stops after this many in a row."),
    kl_to_initial_every: nonNegativeInt()
      .default(0)
      .describe(
        "Log `kl/initial` (KL to the initial policy, paper Figure 2) every k steps, with a frozen copy of the initial weights (0: off).",
      ),
    activation_checkpointing: SHARED_TRAIN_FIELDS.activation_checkpointing,
  },
  "The training loop (paper Algorithm 1).",
);

const benchmark = z
  .object({
    name: z.string().min(1).describe("Name in metric keys: `eval/<name>/avg@k`, `eval/<name>/greedy`."),
    task: z.enum(["countdown", "math"]).describe("Task of the benchmark (prompt format and verifier)."),
    dataset: z
      .string()
      .nullable()
      .default(null)
      .describe(
        "File, named dataset or hf:// id; null with countdown: held-out generated tasks (a seed stream disjoint from training).",
      ),
    limit: positiveInt().nullable().default(null).describe("Evaluate the first n problems."),
    samples: nonNegativeInt().default(8).describe("k samples per problem for avg@k (the paper's avg@8; 0: off)."),
    greedy: z.boolean().default(true).describe("Also report greedy accuracy."),
    temperature: z.number().min(0).default(1).describe("Sampling temperature of avg@k."),
    top_p: z.number().gt(0).max(1).default(1).describe("Nucleus threshold of avg@k."),
    max_new_tokens: positiveInt().nullable().default(null).describe("null: rollout.max_new_tokens."),
  })
  .strict()
  .describe("One benchmark.");

const evaluation = section(
  {
    every: nonNegativeInt().default(0).describe("Evaluate every k rollout steps (0: only at start and end)."),
    at_start: z.boolean().default(true).describe("Evaluate before the first step (logged at step 0)."),
    at_end: z.boolean().default(true).describe("Evaluate after the last step."),
    batch_size: positiveInt().default(64).describe("Rows generated together during eval."),
    benchmarks: z.array(benchmark).default([]).describe("Benchmarks to evaluate (none by default)."),
  },
  "Evaluation: average pass@1 over k samples and greedy accuracy per benchmark.",
);

const checkpoint = section(
  {
    every: nonNegativeInt().default(0).describe("Checkpoint every k rollout steps (0: only at the end)."),
    keep_last: positiveInt().default(2).describe("Keep the newest n checkpoints."),
    at_end: z.boolean().default(true).describe("Checkpoint after the last step."),
    dtype: z.enum(["f32", "bf16", "f16"]).default("f32").describe("dtype of saved weights (f32 keeps a resume exact)."),
  },
  "Checkpoints into RUN_DIR/checkpoints/step-N/ (written atomically).",
);

const logging = section(
  {
    samples_every: nonNegativeInt().default(1).describe("Write rollouts to samples.jsonl every k steps (0: never)."),
    samples_per_step: nonNegativeInt().default(8).describe("Rollouts written per sampled step."),
    tensorboard: z.boolean().default(true).describe("Write TensorBoard event files."),
    progress: z
      .enum(["auto", "bar", "lines", "none"])
      .default("auto")
      .describe("Console output: `auto` is a progress bar on a TTY and one line per step otherwise."),
  },
  "Run-directory logs and console output.",
);

const sft = section(
  {
    dataset: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .describe(
        "`lgpo-run sft` examples: a .jsonl/.parquet file (or named / hf:// dataset) of `{prompt, response}` pairs or `{messages: [...]}` chats whose last message is the assistant's target.",
      ),
    format: z
      .enum(["auto", "pairs", "messages"])
      .default("auto")
      .describe("Example format; `auto` takes `messages` when a record has it, else `prompt`/`response`."),
    batch_size: positiveInt().default(32).describe("Examples per optimizer step."),
    max_length: positiveInt()
      .default(2048)
      .describe("Examples longer than this many tokens (prompt + response) are dropped and counted."),
    append_eos: z
      .boolean()
      .default(true)
      .describe("End each response with the tokenizer's eos token, so the model learns to stop."),
  },
  "Supervised fine-tuning (`lgpo-run sft`): cross-entropy on response tokens only; `trainer.steps`/`epochs` count optimizer steps / passes over the examples, and the optimizer, checkpoint, eval and logging settings apply as for RL.",
);

/** The whole training config. */
/**
 * The sections the eval and generate commands (and the SDK's `evaluateModel`) share with training
 * configs: their defaults and rules are the schema's, not restated there.
 */
export const SECTION_SCHEMAS = { model, reward, rollout, benchmark, evaluation } as const;

/** The defaults of the shared sections (a benchmark's fields other than its name and task). */
export const SECTION_DEFAULTS = {
  model: model.parse({ path: "-" }),
  reward: reward.parse(undefined),
  rollout: rollout.parse(undefined),
  benchmark: benchmark.parse({ name: "-", task: "countdown" }),
  evaluation: evaluation.parse(undefined),
};

export const RunConfigSchema = z
  .object({
    model,
    objective: ObjectiveSchema,
    data,
    rollout,
    reward,
    trainer,
    sft,
    eval: evaluation,
    checkpoint,
    logging,
    seed: nonNegativeInt()
      .max(2 ** 31 - 1)
      .default(0)
      .describe("Seed of prompt order, sampling and random gates: the same seed and thread count give the same run."),
    run_dir: z
      .string()
      .nullable()
      .default(null)
      .describe("Run directory (the CLI's --run-dir wins); null: runs/<date>-<objective>."),
  })
  .strict()
  .superRefine(crossFieldChecks);

/** A resolved training config: every default filled in. */
export type RunConfig = z.output<typeof RunConfigSchema>;
/** A training config as written in YAML: everything but `model.path` and `data.task` optional. */
export type RunConfigInput = z.input<typeof RunConfigSchema>;

/** Checks that need several fields; each names the fields involved. */
function crossFieldChecks(c: z.output<z.ZodObject<z.ZodRawShape>>, ctx: z.RefinementCtx): void {
  const config = c as unknown as RunConfig;
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const { trainer: t, rollout: r, data: d } = config;
  if (t.steps !== null && t.epochs !== null)
    issue(["trainer"], "set one of trainer.steps and trainer.epochs, not both");
  if (t.epochs !== null && d.task === "countdown" && d.dataset === null && !Number.isInteger(t.epochs)) {
    issue(["trainer", "epochs"], "generated Countdown data has whole epochs of data.generator.size tasks");
  }
  if (t.minibatch_size !== null) {
    if (t.minibatch_size > r.prompts_per_step) {
      issue(
        ["trainer", "minibatch_size"],
        `minibatch_size (${t.minibatch_size}) exceeds rollout.prompts_per_step (${r.prompts_per_step})`,
      );
    } else if (t.minibatch_size * t.n_updates !== r.prompts_per_step) {
      issue(
        ["trainer", "n_updates"],
        `n_updates (${t.n_updates}) x minibatch_size (${t.minibatch_size}) must equal rollout.prompts_per_step (${r.prompts_per_step})`,
      );
    }
  } else if (r.prompts_per_step % t.n_updates !== 0) {
    issue(
      ["trainer", "n_updates"],
      `n_updates (${t.n_updates}) must divide rollout.prompts_per_step (${r.prompts_per_step}) into equal minibatches`,
    );
  }
  if (d.generator.max_nums < d.generator.min_nums) {
    issue(["data", "generator", "max_nums"], "max_nums must be >= min_nums");
  }
  if (d.generator.max_target < d.generator.min_target) {
    issue(["data", "generator", "max_target"], "max_target must be >= min_target");
  }
  if (r.overlong.enabled && r.overlong.buffer >= r.max_new_tokens) {
    issue(["rollout", "overlong", "buffer"], "overlong.buffer must be below rollout.max_new_tokens");
  }
  if (t.old_logprobs === "generation" && (r.top_p !== 1 || r.top_k !== 0)) {
    issue(
      ["trainer", "old_logprobs"],
      "`generation` old log-probs are the policy's only without top-k/top-p (they are renormalised over the kept tokens); use `recompute`",
    );
  }
  if (t.schedule.kind !== "constant" && t.steps !== null && t.schedule.warmup_steps >= t.steps * t.n_updates) {
    issue(["trainer", "schedule", "warmup_steps"], "warmup_steps must be below the run's optimizer steps");
  }
  if (config.objective.gate?.exclude_forced && d.task !== "countdown") {
    issue(["objective", "gate", "exclude_forced"], `the ${d.task} task marks no forced tokens`);
  }
  const names = new Set<string>();
  config.eval.benchmarks.forEach((b, i) => {
    if (names.has(b.name)) issue(["eval", "benchmarks", i, "name"], `benchmark name "${b.name}" is used twice`);
    names.add(b.name);
    if (b.samples === 0 && !b.greedy)
      issue(["eval", "benchmarks", i], "samples is 0 and greedy is false: nothing to do");
  });
}
