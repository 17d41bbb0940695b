/**
 * `lgpo-run`: the command line of lgpo. Each command calls SDK functions only.
 * Exit codes: 0 success, 2 bad arguments or input (one-line message), 1 internal failure.
 */
import { Command, CommanderError, Option } from "commander";

import { VERSION } from "../version.js";
import { exitCodeOf, oneLine } from "./errors.js";
import { generate } from "./generate.js";
import { integer, number } from "./options.js";
import { score } from "./score.js";
import { verify } from "./verify.js";

const device = () => new Option("--device <device>", "compute device").choices(["cpu", "cuda"]).default("cpu");
const dtype = () =>
  new Option("--dtype <dtype>", "compute dtype (default: f32 on cpu, bf16 on cuda)").choices(["f32", "bf16", "f16"]);

export function program(): Command {
  const cli = new Command("lgpo-run")
    .description("RL post-training with Likelihood-Gated Policy Optimization (LGPO) and its baselines")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  cli
    .command("score")
    .description(
      "write per-token log-probs, entropies and the mean log-prob (the quantity LGPO gates on, tau = -0.15) " +
        'of each {"prompt_ids", "response_ids"} or {"prompt", "response"} line',
    )
    .requiredOption("--model <dir>", "Hugging Face checkpoint directory (config.json + safetensors)")
    .requiredOption("--input <file>", "JSONL file of sequences")
    .option("--out <file>", "output JSONL file (default: stdout); written atomically")
    .option("--batch-size <n>", "sequences per forward pass", integer(1), 8)
    .addOption(device())
    .addOption(dtype())
    .action((o) => score(o));

  cli
    .command("generate")
    .description('sample continuations of --prompt TEXT or of each {"prompt"} / {"prompt_ids"} line of --input')
    .requiredOption("--model <dir>", "Hugging Face checkpoint directory")
    .option("--prompt <text>", "one prompt")
    .option("--input <file>", "JSONL file of prompts")
    .option("--out <file>", "output JSONL file (default: stdout); written atomically")
    .option("--n <n>", "samples per prompt", integer(1), 1)
    .option("--temperature <t>", "softmax temperature; 0 is greedy", number(0, 100), 1)
    .option("--top-p <p>", "nucleus sampling threshold", number(Number.MIN_VALUE, 1), 1)
    .option("--top-k <k>", "keep the k most likely tokens; 0 keeps all", integer(0), 0)
    .option("--max-tokens <n>", "new tokens per sample at most", integer(1), 256)
    .option("--seed <seed>", "random seed", integer(0), 0)
    .option("--chat", "wrap each text prompt as a user message in the model's chat template", false)
    .option("--batch-size <n>", "rows generated together", integer(1), 16)
    .addOption(device())
    .addOption(dtype())
    .action((o) => generate(o));

  cli
    .command("verify")
    .description(
      'score responses: countdown lines {"response", "target", "nums"}, math lines {"response", "answer"}; ' +
        "one verdict per line, summary on stderr",
    )
    .requiredOption("--task <task>", "countdown or math")
    .requiredOption("--input <file>", "JSONL file of responses")
    .option("--out <file>", "output JSONL file (default: stdout); written atomically")
    .action((o) => verify(o));

  return cli;
}

/** Runs the CLI on `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message; help and version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`lgpo-run: ${oneLine(error)}\n`);
    return exitCodeOf(error);
  }
}
