/**
 * Evaluating a checkpoint alone (`lgpo-run eval`, the SDK's `evaluateModel`): the trainer's eval
 * on one or more benchmarks, with the same prompts, verifiers and held-out Countdown tasks.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { ConfigError } from "../config/load.js";
import { SECTION_DEFAULTS } from "../config/schema.js";
import { type BenchmarkTasks, HELD_OUT_SIZE, heldOutCountdownTasks, loadDatasetTasks } from "../data/load.js";
import type { GeneratorRanges } from "../data/prompt_stream.js";
import { type PromptTemplate, resolveTemplate } from "../data/prompts.js";
import { Policy } from "../sdk/policy.js";
import { type BenchmarkScore, evaluateBenchmark } from "./eval.js";
import { buildReward } from "./reward.js";

/** Options of {@link evaluateModel}. */
export interface EvaluateModelOptions {
  model: string;
  task: "countdown" | "math";
  /** Datasets (file, named dataset or hf:// id); none with countdown: the held-out generated tasks. */
  datasets?: string[];
  /** Problems per benchmark (default: all; held-out Countdown: 200). */
  limit?: number;
  /** k of avg@k (0: off). */
  samples: number;
  greedy: boolean;
  temperature?: number;
  topP?: number;
  maxNewTokens?: number;
  batchSize?: number;
  device?: string;
  template?: PromptTemplate;
  system?: string | null;
  /** Ranges of held-out Countdown tasks (a training config's `data.generator`). */
  generator?: GeneratorRanges;
  successThreshold?: number;
}

/** What {@link evaluateModel} returns: a headline `accuracy` (avg@k when k > 0, else greedy) and per-benchmark scores. */
export interface ModelEvaluation {
  accuracy: number;
  benchmarks: Record<string, Omit<BenchmarkScore, "name">>;
}

const DEFAULT_RANGES: GeneratorRanges = { min_nums: 3, max_nums: 4, max_number: 99, min_target: 10, max_target: 99 };

/**
 * The task card `lgpo.json` of a checkpoint directory (the project's shipped models have one): the
 * Countdown ranges, prompt format and generation length the model was trained for, used when the
 * caller gives none.
 */
export interface TaskCard {
  task?: "countdown" | "math";
  countdown?: GeneratorRanges;
  prompt?: { template?: PromptTemplate };
  /** Generation length that fits the model (a small model's context is short). */
  generation?: { max_new_tokens?: number };
}

/** Reads `dir/lgpo.json` when it exists. */
export function readTaskCard(dir: string): TaskCard {
  const path = join(dir, "lgpo.json");
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, "utf8")) as TaskCard;
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Evaluates a checkpoint on the given benchmarks. */
export async function evaluateModel(o: EvaluateModelOptions): Promise<ModelEvaluation> {
  if (o.samples <= 0 && !o.greedy) throw new ConfigError("nothing to evaluate: give --samples S > 0 and/or --greedy");
  const card = existsSync(o.model) ? readTaskCard(o.model) : {};
  const benches: BenchmarkTasks[] = [];
  if (!o.datasets?.length) {
    if (o.task !== "countdown") throw new ConfigError("--dataset is required for the math task");
    const ranges = o.generator ?? card.countdown ?? DEFAULT_RANGES;
    benches.push({ name: "countdown", tasks: heldOutCountdownTasks("countdown", o.limit ?? HELD_OUT_SIZE, ranges) });
  } else {
    for (const d of o.datasets) {
      const { tasks } = await loadDatasetTasks(d, o.task, { limit: o.limit ?? null });
      benches.push({ name: d, tasks });
    }
  }
  const policy = await Policy.load(o.model, { device: (o.device ?? SECTION_DEFAULTS.model.device) as "cpu" });
  const reward = await buildReward(SECTION_DEFAULTS.reward, o.task);
  try {
    const tokenizer = policy.tokenizer;
    if (tokenizer === undefined) throw new Error(`${o.model}: the checkpoint has no tokenizer files`);
    const template = resolveTemplate(o.template ?? card.prompt?.template ?? "auto", o.task, tokenizer);
    const out: ModelEvaluation = { accuracy: 0, benchmarks: {} };
    const headline: number[] = [];
    for (const b of benches) {
      const { name, ...score } = await evaluateBenchmark(policy, tokenizer, reward, b, template, o.system ?? null, {
        samples: o.samples,
        greedy: o.greedy,
        temperature: o.temperature ?? SECTION_DEFAULTS.benchmark.temperature,
        topP: o.topP ?? SECTION_DEFAULTS.benchmark.top_p,
        maxNewTokens: o.maxNewTokens ?? card.generation?.max_new_tokens ?? SECTION_DEFAULTS.rollout.max_new_tokens,
        batchSize: o.batchSize ?? SECTION_DEFAULTS.evaluation.batch_size,
        successThreshold: o.successThreshold ?? SECTION_DEFAULTS.reward.success_threshold,
      });
      out.benchmarks[name] = score;
      headline.push(score.avgAtK ?? score.greedy ?? 0);
    }
    out.accuracy = headline.reduce((a, b) => a + b, 0) / headline.length;
    return out;
  } finally {
    await reward.close();
    policy.dispose();
  }
}
