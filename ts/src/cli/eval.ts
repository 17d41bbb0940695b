/** `lgpo-run eval`: the trainer's eval of one checkpoint, printed as one JSON object on stdout. */
import { loadConfig } from "../config/load.js";
import { evaluateModel } from "../trainer/eval_model.js";

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
    samples: o.samples ?? (o.greedy ? 0 : 8),
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
