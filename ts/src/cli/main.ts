/**
 * `lgpo-run`: the command line of lgpo. Each command calls SDK functions only.
 * Exit codes: 0 success, 2 bad arguments or input (one-line message), 1 internal failure.
 */
import { Command, CommanderError, Option } from "commander";

import { VERSION } from "../version.js";
import { dashboard } from "./dashboard.js";
import { registerBench } from "./bench.js";
import { registerSweep } from "./sweep.js";
import { exitCodeOf, oneLine } from "./errors.js";
import { download } from "./download.js";
import { generate } from "./generate.js";
import { integer, limitOrNone, number } from "./options.js";
import { report } from "./report.js";
import { score } from "./score.js";
import { verify } from "./verify.js";
import { configHelpText } from "../config/docs.js";
import { evalCommand } from "./eval.js";
import { trainCommand } from "./train.js";

const MODEL_HELP = "checkpoint directory, or Hugging Face id org/name[@revision] (from the hub cache, else downloaded)";
const revision = () => new Option("--revision <rev>", "branch, tag or commit of a Hugging Face id (default: main)");
const offline = () => new Option("--offline", "never touch the network: use the hub cache only (as HF_HUB_OFFLINE=1)");
const force = () =>
  new Option(
    "--force",
    "with --resume: continue even if --set changes keys other than trainer.steps/epochs, eval, logging, checkpoint",
  ).default(false);

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
    .requiredOption("--model <dir|id>", MODEL_HELP)
    .addOption(revision())
    .addOption(offline())
    .requiredOption("--input <file>", "JSONL file of sequences")
    .option("--out <file>", "output JSONL file (default: stdout); written atomically")
    .option("--batch-size <n>", "sequences per forward pass", integer(1), 8)
    .addOption(device())
    .addOption(dtype())
    .action((o) => score(o));

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
    .option("--temperature <t>", "softmax temperature; 0 is greedy", number(0, 100), 1)
    .option("--top-p <p>", "nucleus sampling threshold", number(Number.MIN_VALUE, 1), 1)
    .option("--top-k <k>", "keep the k most likely tokens; 0 keeps all", integer(0), 0)
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

  cli
    .command("train")
    .description(
      "train a policy with LGPO or a baseline (paper Algorithm 1); with no --config, the built-in default " +
        "(configs/default.yaml: LGPO on Countdown with the shipped tiny model)",
    )
    .option("--config <file>", "YAML config (may `extends:` another); see the keys below and docs/config.md")
    .option("--set <key=value>", "override a config key, e.g. --set trainer.steps=10 (repeatable)", collect, [])
    .option("--run-dir <dir>", "run directory (default: config run_dir, else runs/<date>-<objective>)")
    .option("--resume <run_dir>", "continue the run in RUN_DIR from its newest checkpoint")
    .addOption(force())
    .option("--dry-run", "print the resolved config as YAML and exit", false)
    .addOption(offline())
    .addHelpText("after", configHelpText())
    .action((o) => trainCommand(o));

  cli
    .command("sft")
    .description(
      "supervised fine-tuning on {prompt, response} pairs or {messages} chats (loss on response tokens only), " +
        "with the same config, run directory, checkpoints, logging and --resume as train",
    )
    .option("--config <file>", "YAML config with an `sft` section (see docs/config.md)")
    .option("--set <key=value>", "override a config key (repeatable)", collect, [])
    .option("--run-dir <dir>", "run directory (default: config run_dir, else runs/<date>-<objective>)")
    .option("--resume <run_dir>", "continue the run in RUN_DIR from its newest checkpoint")
    .addOption(force())
    .option("--dry-run", "print the resolved config as YAML and exit", false)
    .addOption(offline())
    .action((o) => trainCommand(o, "sft"));

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
    .option("--samples <s>", "samples per problem for avg@S (default 8, or 0 with --greedy alone)", integer(0))
    .option("--greedy", "report greedy accuracy", false)
    .option("--temperature <t>", "sampling temperature of avg@S", number(0, 100), 1)
    .option("--top-p <p>", "nucleus threshold of avg@S", number(Number.MIN_VALUE, 1), 1)
    .option(
      "--max-tokens <n>",
      "response length limit (default: the config's, else the model's lgpo.json, else 1024)",
      integer(1),
    )
    .option("--batch-size <n>", "rows generated together", integer(1), 64)
    .option("--config <file>", "training config whose prompt format, Countdown ranges and lengths to use")
    .addOption(device())
    .action((o) => evalCommand(o));

  cli
    .command("download")
    .description(
      "fetch a model (org/name[@revision]) or dataset (hf://datasets/org/name[@revision][/glob]) into the " +
        "Hugging Face cache shared with transformers, datasets and vLLM; print the model's folder or the dataset's files",
    )
    .argument("<id>", "model id or hf://datasets/ address")
    .addOption(revision())
    .addOption(offline())
    .option("--split <split>", "dataset split whose files to fetch (default: train)")
    .option("--pattern <glob>", "dataset files to fetch, as a path or glob inside the repository")
    .action((id, o) => download(id, o));

  cli
    .command("report")
    .description(
      "write one self-contained HTML file (no network needed to view it) with a chart per metric over steps, " +
        "the runs overlaid, and a table of config differences and final eval scores; charts export as SVG and PNG",
    )
    .argument("<run_dir...>", "run directories written by lgpo-run train")
    .option("--out <file>", "output HTML file; written atomically (default: report.html in the first RUN_DIR)")
    .option("--no-seed-bands", "draw every run on its own instead of runs that differ only by seed as mean ± min..max")
    .option("--title <text>", "page title (default: the run names)")
    .option("--svg <dir>", "instead of the page, write one SVG per --metrics key into DIR (for docs)")
    .option("--metrics <keys>", "comma-separated metric keys of the --svg figures")
    .option("--smoothing <w>", "EMA weight of the --svg curves in [0, 1) (TensorBoard's slider)", Number.parseFloat)
    .action((dirs: string[], o) => report(dirs, o));

  cli
    .command("dashboard")
    .description(
      "serve live charts and the latest samples of run directories on http://127.0.0.1:PORT " +
        "(loopback only, read-only; follows metrics.jsonl and samples.jsonl while runs train)",
    )
    .argument("<run_dir...>", "run directories (they may still be training)")
    .option("--port <n>", "TCP port on 127.0.0.1 (0 picks a free one)", integer(0), 6150)
    .option("--no-seed-bands", "draw every run on its own instead of runs that differ only by seed as mean ± min..max")
    .option("--title <text>", "page title (default: the run names)")
    .action((dirs: string[], o) => dashboard(dirs, o));

  registerBench(cli);
  registerSweep(cli);

  return cli;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Runs the CLI on `argv` and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: "user" });
    // A command that ends without an error may still set its own code (a stopped sweep: 130).
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed its message; help and version exit 0.
      return error.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`lgpo-run: ${oneLine(error)}\n`);
    return exitCodeOf(error);
  }
}
