/** `lgpo-run generate`: sample continuations of a prompt or of a JSONL file of prompts. */
import type { Command } from "commander";
import { device, dtype, integer, limitOrNone, MODEL_HELP, number, offline, revision } from "./options.js";
import { Policy } from "../sdk/policy.js";
import { UsageError } from "./errors.js";
import { progress, readJsonl, writeLines } from "./io.js";
import { SECTION_DEFAULTS } from "../config/schema.js";

export interface GenerateCliOptions {
  model: string;
  revision?: string;
  offline?: boolean;
  prompt?: string;
  input?: string;
  out?: string;
  n: number;
  temperature: number;
  topP: number;
  topK: number;
  maxTokens: number;
  seed: number;
  chat: boolean;
  device?: "cpu" | "cuda";
  dtype?: "f32" | "bf16" | "f16";
  batchSize: number;
  /** Ids at or above it are never sampled; `false`: no limit; undefined: the SDK's default. */
  vocabLimit?: number | false;
}

function prompts(options: GenerateCliOptions): Array<string | number[]> {
  if ((options.prompt === undefined) === (options.input === undefined)) {
    throw new UsageError("give exactly one of --prompt TEXT and --input FILE.jsonl");
  }
  if (options.prompt !== undefined) return [options.prompt];
  return readJsonl(options.input!).map(({ line, value }) => {
    if (typeof value.prompt === "string") return value.prompt;
    const ids = value.prompt_ids;
    if (Array.isArray(ids) && ids.length > 0 && ids.every((v) => Number.isInteger(v) && v >= 0)) return ids as number[];
    throw new UsageError(`${options.input}:${line}: expected {"prompt": "..."} or {"prompt_ids": [...]}`);
  });
}

export async function generate(options: GenerateCliOptions): Promise<void> {
  const inputs = prompts(options);
  const policy = await Policy.load(options.model, {
    device: options.device,
    dtype: options.dtype,
    revision: options.revision,
    offline: options.offline,
    seed: options.seed,
  });
  try {
    if (inputs.some((p) => typeof p === "string") && policy.tokenizer === undefined) {
      throw new UsageError(`${options.model} has no tokenizer files; give prompt_ids instead of text`);
    }
    if (options.chat && inputs.some((p) => typeof p === "string") && policy.tokenizer?.chatTemplate === undefined) {
      throw new UsageError(`--chat: ${options.model}'s tokenizer has no chat template (tokenizer_config.json)`);
    }
    // Whole groups of n samples per call (one prefill per prompt); each call names its first row,
    // so every row has its own random stream and the output does not depend on --batch-size.
    const n = options.n;
    const promptsPerCall = Math.max(1, Math.floor(options.batchSize / n));
    const out: string[] = [];
    let unknown = 0;
    const bar = progress("generated", inputs.length * n);
    for (let start = 0; start < inputs.length; start += promptsPerCall) {
      const chunk = inputs.slice(start, start + promptsPerCall);
      const generations = await policy.generate(chunk, {
        temperature: options.temperature,
        topP: options.topP,
        topK: options.topK,
        maxNewTokens: options.maxTokens,
        seed: options.seed,
        firstRow: start * n,
        chat: options.chat,
        n,
        vocabLimit: options.vocabLimit,
        warnUnknownTokens: false,
      });
      generations.forEach((g, j) => {
        const mean = g.logprobs.reduce((a, b) => a + b, 0) / Math.max(g.logprobs.length, 1);
        unknown += g.unknownTokens;
        out.push(
          JSON.stringify({
            prompt_index: start + Math.floor(j / n),
            sample: j % n,
            text: g.text,
            tokens: g.tokens,
            logprobs: g.logprobs,
            entropy: g.entropy,
            mean_logprob: mean,
            finish_reason: g.finishReason,
            ...(g.unknownTokens > 0 ? { unknown_tokens: g.unknownTokens } : {}),
          }),
        );
      });
      bar.tick((start + chunk.length) * n);
    }
    bar.end();
    writeLines(out, options.out);
    if (unknown > 0) {
      process.stderr.write(
        `lgpo-run: warning: ${unknown} generated token id(s) are not in the tokenizer and decoded to nothing ` +
          "(see unknown_tokens; --vocab-limit never samples them)\n",
      );
    }
  } finally {
    policy.dispose();
  }
}

/** Sampling defaults: a training config's rollouts. */
const ROLLOUT = SECTION_DEFAULTS.rollout;

/** Adds the `generate` command to `cli`. */
export function registerGenerate(cli: Command): void {
  cli
    .command("generate")
    .description('sample continuations of --prompt TEXT or of each {"prompt"} / {"prompt_ids"} line of --input')
    .requiredOption("--model <dir|id>", MODEL_HELP)
    .addOption(revision())
    .addOption(offline())
    .option("--prompt <text>", "one prompt")
    .option("--input <file>", "JSONL file of prompts")
    .option("--out <file>", "output JSONL file (default: stdout); written atomically")
    .option("--n <n>", "samples per prompt (one prefill per prompt)", integer(1), 1)
    .option("--temperature <t>", "softmax temperature; 0 is greedy", number(0, 100), ROLLOUT.temperature)
    .option("--top-p <p>", "nucleus sampling threshold", number(Number.MIN_VALUE, 1), ROLLOUT.top_p)
    .option("--top-k <k>", "keep the k most likely tokens; 0 keeps all", integer(0), ROLLOUT.top_k)
    .option("--max-tokens <n>", "new tokens per sample at most", integer(1), 256)
    .option("--seed <seed>", "random seed", integer(0), 0)
    .option("--chat", "wrap each text prompt as a user message in the model's chat template", false)
    .option("--batch-size <n>", "rows generated together (whole groups of --n samples)", integer(1), 16)
    .option(
      "--vocab-limit <n>",
      "never sample ids >= n, or 'none' (default: the tokenizer's size when the model's vocabulary is padded past it)",
      limitOrNone,
    )
    .addOption(device())
    .addOption(dtype())
    .action((o) => generate(o));
}
