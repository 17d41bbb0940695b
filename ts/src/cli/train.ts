/**
 * `lgpo-run train` and `lgpo-run sft`: resolve the config (file, `--set` overrides, or a run
 * directory to resume), then run the trainer. SIGINT/SIGTERM finish the current step and write a
 * checkpoint; a second signal exits at once.
 */
import type { Command } from "commander";
import { collect, force, integer, offline } from "./options.js";
import { launchRanks } from "../distributed/launch.js";
import { finalizeWorld, initWorld } from "../distributed/world.js";
import { configHelpText } from "../config/docs.js";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

import { applyOverrides, configToYaml, loadConfig, resolveConfig } from "../config/load.js";
import { runConfigText } from "../trainer/run_dir.js";
import { sft } from "../trainer/sft.js";
import { train } from "../trainer/train.js";
import { UsageError } from "./errors.js";
import { RUN_FILES } from "../logging/run_layout.js";

/** The built-in default config: configs/default.yaml of the package's repository. */
export const DEFAULT_CONFIG = fileURLToPath(new URL("../../../configs/default.yaml", import.meta.url));

export interface TrainCliOptions {
  config?: string;
  set: string[];
  runDir?: string;
  resume?: string;
  dryRun: boolean;
  offline?: boolean;
  force?: boolean;
  /** Ranks to launch on this machine (train only). */
  nproc?: number;
}

/** The config a command means: --resume's run directory, --config, or (train only) the built-in default. */
function resolveCliConfig(o: TrainCliOptions, command: "train" | "sft") {
  if (o.resume !== undefined) {
    if (o.config !== undefined) throw new UsageError("give --resume RUN_DIR or --config FILE, not both");
    const tree = YAML.parse(runConfigText(o.resume)) as Record<string, unknown>;
    return resolveConfig(applyOverrides(tree, o.set), join(o.resume, RUN_FILES.config));
  }
  if (o.config === undefined && command === "sft")
    throw new UsageError("sft needs --config FILE (with an sft section)");
  const file = o.config ?? DEFAULT_CONFIG;
  if (o.config === undefined && !existsSync(file)) {
    throw new UsageError(`no --config given and the built-in default ${file} is missing`);
  }
  return loadConfig({ file, set: o.set });
}

export async function trainCommand(o: TrainCliOptions, command: "train" | "sft" = "train"): Promise<void> {
  if (o.offline) process.env.HF_HUB_OFFLINE = "1";
  const config = resolveCliConfig(o, command);
  if (o.dryRun) {
    process.stdout.write(configToYaml(config));
    return;
  }
  if (o.nproc !== undefined && o.nproc > 1) {
    const status = await launchRanks(o.nproc);
    if (status !== 0) {
      process.stderr.write(
        `lgpo-run: the ${o.nproc}-rank job failed (mpirun exit ${status}; its message names the rank)\n`,
      );
    }
    process.exitCode = status;
    return;
  }
  const world = initWorld();
  const runDir = o.resume ?? o.runDir;
  const controller = new AbortController();
  let signals = 0;
  const onSignal = (name: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`\nlgpo-run: second ${name}, exiting now\n`);
      process.exit(name === "SIGINT" ? 130 : 143);
    }
    process.stderr.write(
      `\nlgpo-run: ${name}: finishing the current step, then writing a checkpoint (again to exit now)\n`,
    );
    controller.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    const summary = await (command === "sft" ? sft : train)(config, {
      ...(runDir !== undefined ? { runDir } : {}),
      resume: o.resume !== undefined,
      force: o.force ?? false,
      signal: controller.signal,
      world,
    });
    const evals = Object.entries(summary.eval.final ?? {}).map(([k, v]) => {
      const before = summary.eval.initial?.[k];
      return `${k} ${before !== undefined ? `${before.toFixed(3)} -> ` : ""}${v.toFixed(3)}`;
    });
    if (world.rank === 0)
      process.stderr.write(
        `lgpo-run: ${summary.status} ${summary.steps} steps in ${summary.wallS.toFixed(1)} s; run directory ${summary.runDir}\n` +
          (evals.length ? `lgpo-run: ${evals.join(", ")}\n` : ""),
      );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  // An MPI rank must finalise before it exits; one that fails exits without, and mpirun ends the job.
  finalizeWorld();
}

/** The options `train` and `sft` share: a config with overrides, a run directory, resume. */
function runOptions(command: Command, configHelp: string, setHelp: string): Command {
  return command
    .option("--config <file>", configHelp)
    .option("--set <key=value>", setHelp, collect, [])
    .option("--run-dir <dir>", "run directory (default: config run_dir, else runs/<date>-<objective>)")
    .option("--resume <run_dir>", "continue the run in RUN_DIR from its newest checkpoint")
    .addOption(force())
    .option("--dry-run", "print the resolved config as YAML and exit", false)
    .addOption(offline())
    .option(
      "--nproc <n>",
      "data-parallel ranks on this machine: runs this command under mpirun -np N (needs lgpo built with MPI; " +
        "docs/distributed.md)",
      integer(1),
    );
}

/** Adds the `train` and `sft` commands to `cli`. */
export function registerTrain(cli: Command): void {
  const train = cli
    .command("train")
    .description(
      "train a policy with LGPO or a baseline (paper Algorithm 1); with no --config, the built-in default " +
        "(configs/default.yaml: LGPO on Countdown with the shipped tiny model)",
    );
  runOptions(
    train,
    "YAML config (may `extends:` another); see the keys below and docs/config.md",
    "override a config key, e.g. --set trainer.steps=10 (repeatable)",
  )
    .addHelpText("after", configHelpText())
    .action((o) => trainCommand(o));

  const sft = cli
    .command("sft")
    .description(
      "supervised fine-tuning on {prompt, response} pairs or {messages} chats (loss on response tokens only), " +
        "with the same config, run directory, checkpoints, logging and --resume as train",
    );
  runOptions(
    sft,
    "YAML config with an `sft` section (see docs/config.md)",
    "override a config key (repeatable)",
  ).action((o) => trainCommand(o, "sft"));
}
