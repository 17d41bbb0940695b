/** `lgpo-run generate`: sample continuations of a prompt or of a JSONL file of prompts. */
import { Policy } from "../sdk/policy.js";
import { UsageError } from "./errors.js";
import { progress, readJsonl, writeLines } from "./io.js";

export interface GenerateCliOptions {
  model: string;
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
  const policy = await Policy.load(options.model, { device: options.device, dtype: options.dtype, seed: options.seed });
  try {
    if (inputs.some((p) => typeof p === "string") && policy.tokenizer === undefined) {
      throw new UsageError(`${options.model} has no tokenizer files; give prompt_ids instead of text`);
    }
    // Each prompt repeated n times; the seed's per-row streams make the samples differ.
    const rows = inputs.flatMap((p, i) => Array.from({ length: options.n }, (_, k) => ({ p, i, k })));
    const out: string[] = [];
    const bar = progress("generated", rows.length);
    for (let start = 0; start < rows.length; start += options.batchSize) {
      const chunk = rows.slice(start, start + options.batchSize);
      const generations = await policy.generate(
        chunk.map((r) => r.p),
        {
          temperature: options.temperature,
          topP: options.topP,
          topK: options.topK,
          maxNewTokens: options.maxTokens,
          seed: options.seed + start,
          chat: options.chat,
        },
      );
      generations.forEach((g, j) => {
        const { i, k } = chunk[j]!;
        const mean = g.logprobs.reduce((a, b) => a + b, 0) / Math.max(g.logprobs.length, 1);
        out.push(
          JSON.stringify({
            prompt_index: i,
            sample: k,
            text: g.text,
            tokens: g.tokens,
            logprobs: g.logprobs,
            mean_logprob: mean,
            finish_reason: g.finishReason,
          }),
        );
      });
      bar.tick(start + chunk.length);
    }
    bar.end();
    writeLines(out, options.out);
  } finally {
    policy.dispose();
  }
}
