/** `lgpo-run eval`: the trainer's eval of one checkpoint, printed as one JSON object on stdout. */
import { type Command, Option } from "commander";
import { device, integer, MODEL_HELP, number, offline } from "./options.js";
import { loadConfig } from "../config/load.js";
import { SECTION_DEFAULTS } from "../config/schema.js";
import { evaluateModel } from "../trainer/eval_model.js";

/** A benchmark's defaults in a training config: the eval command's too. */
const BENCH = SECTION_DEFAULTS.benchmark;

export interface EvalCliOptions {
  model: string;
  task: "countdown" | "math";
  dataset?: string;
  n?: number;
  samples?: number;
  greedy: boolean;
  temperature: number;
  topP: number;
  maxTokens?: number;
  batchSize: number;
  device: string;
  config?: string;
  offline?: boolean;
}

export async function evalCommand(o: EvalCliOptions): Promise<void> {
  if (o.offline) process.env.HF_HUB_OFFLINE = "1";
  // A training config supplies the prompt format, Countdown ranges and response length.
  const config = o.config !== undefined ? loadConfig({ file: o.config, set: [`model.path=${o.model}`] }) : undefined;
  const result = await evaluateModel({
    model: o.model,
    task: o.task,
    ...(o.dataset !== undefined ? { datasets: o.dataset.split(",").map((d) => d.trim()) } : {}),
    ...(o.n !== undefined ? { limit: o.n } : {}),
    // --greedy alone means greedy only; otherwise avg@8 unless --samples says otherwise.
    samples: o.samples ?? (o.greedy ? 0 : BENCH.samples),
    greedy: o.greedy,
    temperature: o.temperature,
    topP: o.topP,
    // Unset: the model's task card (lgpo.json), else 1024 (evaluateModel).
    maxNewTokens: o.maxTokens ?? config?.rollout.max_new_tokens,
    batchSize: o.batchSize,
    device: o.device,
    ...(config
      ? { template: config.data.prompt.template, system: config.data.prompt.system, generator: config.data.generator }
      : {}),
  });
  process.stdout.write(`${JSON.stringify({ model: o.model, task: o.task, ...result })}\n`);
}

/** Adds the `eval` command to `cli`. */
export function registerEval(cli: Command): void {
  cli
    .command("eval")
    .description(
      "evaluate a checkpoint as the trainer does and print one JSON object: accuracy (avg@S, or greedy) and per-benchmark scores",
    )
    .requiredOption("--model <dir|id>", MODEL_HELP)
    .addOption(offline())
    .addOption(new Option("--task <task>", "countdown or math").choices(["countdown", "math"]).makeOptionMandatory())
    .option(
      "--dataset <name|file>",
      "benchmark(s), comma-separated: a named dataset (math500, aime24, ...), a .jsonl/.parquet file or hf://datasets/...; countdown without one: held-out generated tasks",
    )
    .option("--n <k>", "problems per benchmark (default: all; held-out Countdown: 200)", integer(1))
    .option(
      "--samples <s>",
      `samples per problem for avg@S (default ${BENCH.samples}, or 0 with --greedy alone)`,
      integer(0),
    )
    .option("--greedy", "report greedy accuracy", false)
    .option("--temperature <t>", "sampling temperature of avg@S", number(0, 100), BENCH.temperature)
    .option("--top-p <p>", "nucleus threshold of avg@S", number(Number.MIN_VALUE, 1), BENCH.top_p)
    .option(
      "--max-tokens <n>",
      `response length limit (default: the config's, else the model's lgpo.json, else ${SECTION_DEFAULTS.rollout.max_new_tokens})`,
      integer(1),
    )
    .option("--batch-size <n>", "rows generated together", integer(1), SECTION_DEFAULTS.evaluation.batch_size)
    .option("--config <file>", "training config whose prompt format, Countdown ranges and lengths to use")
    .addOption(device())
    .action((o) => evalCommand(o));
}
