/** `lgpo-run score`: per-token log-probs, entropies and the mean log-prob LGPO gates on. */
import type { Command } from "commander";
import { device, dtype, integer, MODEL_HELP, offline, revision } from "./options.js";
import { Policy, type ScoreInput } from "../sdk/policy.js";
import { UsageError } from "./errors.js";
import { progress, readJsonl, writeLines } from "./io.js";

export interface ScoreOptions {
  model: string;
  revision?: string;
  offline?: boolean;
  input: string;
  out?: string;
  device?: "cpu" | "cuda";
  dtype?: "f32" | "bf16" | "f16";
  batchSize: number;
}

function parseLine(value: Record<string, unknown>, where: string): ScoreInput {
  if ("prompt_ids" in value || "response_ids" in value) {
    for (const field of ["prompt_ids", "response_ids"]) {
      const ids = value[field];
      if (!Array.isArray(ids) || !ids.every((v) => Number.isInteger(v) && v >= 0)) {
        throw new UsageError(`${where}: field ${field} must be an array of non-negative integer token ids`);
      }
    }
    return { promptIds: value.prompt_ids as number[], responseIds: value.response_ids as number[] };
  }
  if (typeof value.prompt === "string" && typeof value.response === "string") {
    return { prompt: value.prompt, response: value.response };
  }
  throw new UsageError(
    `${where}: expected {"prompt_ids": [...], "response_ids": [...]} or {"prompt": "...", "response": "..."}`,
  );
}

export async function score(options: ScoreOptions): Promise<void> {
  const rows = readJsonl(options.input).map(({ line, value }) => parseLine(value, `${options.input}:${line}`));
  const policy = await Policy.load(options.model, {
    device: options.device,
    dtype: options.dtype,
    revision: options.revision,
    offline: options.offline,
  });
  try {
    if (rows.some((r) => "prompt" in r) && policy.tokenizer === undefined) {
      throw new UsageError(`${options.model} has no tokenizer files; give prompt_ids/response_ids instead of text`);
    }
    const out: string[] = [];
    const bar = progress("scored", rows.length);
    for (let start = 0; start < rows.length; start += options.batchSize) {
      const scores = await policy.logprobs(rows.slice(start, start + options.batchSize));
      for (const s of scores) {
        out.push(JSON.stringify({ logprobs: s.logprobs, entropy: s.entropy, mean_logprob: s.meanLogprob }));
      }
      bar.tick(Math.min(start + options.batchSize, rows.length));
    }
    bar.end();
    writeLines(out, options.out);
  } finally {
    policy.dispose();
  }
}

/** Adds the `score` command to `cli`. */
export function registerScore(cli: Command): void {
  cli
    .command("score")
    .description(
      "write per-token log-probs, entropies and the mean log-prob (the quantity LGPO gates on) " +
        'of each {"prompt_ids", "response_ids"} or {"prompt", "response"} line',
    )
    .requiredOption("--model <dir|id>", MODEL_HELP)
    .addOption(revision())
    .addOption(offline())
    .requiredOption("--input <file>", "JSONL file of sequences")
    .option("--out <file>", "output JSONL file (default: stdout); written atomically")
    .option("--batch-size <n>", "sequences per forward pass", integer(1), 8)
    .addOption(device())
    .addOption(dtype())
    .action((o) => score(o));
}
