/**
 * `lgpo-run train` and `lgpo-run sft`: resolve the config (file, `--set` overrides, or a run
 * directory to resume), then run the trainer. SIGINT/SIGTERM finish the current step and write a
 * checkpoint; a second signal exits at once.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

import { applyOverrides, configToYaml, loadConfig, resolveConfig } from "../config/load.js";
import { runConfigText } from "../trainer/run_dir.js";
import { sft } from "../trainer/sft.js";
import { train } from "../trainer/train.js";
import { UsageError } from "./errors.js";

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
}

/** The config a command means: --resume's run directory, --config, or (train only) the built-in default. */
function resolveCliConfig(o: TrainCliOptions, command: "train" | "sft") {
  if (o.resume !== undefined) {
    if (o.config !== undefined) throw new UsageError("give --resume RUN_DIR or --config FILE, not both");
    const tree = YAML.parse(runConfigText(o.resume)) as Record<string, unknown>;
    return resolveConfig(applyOverrides(tree, o.set), join(o.resume, "config.yaml"));
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
    });
    const evals = Object.entries(summary.eval.final ?? {}).map(([k, v]) => {
      const before = summary.eval.initial?.[k];
      return `${k} ${before !== undefined ? `${before.toFixed(3)} -> ` : ""}${v.toFixed(3)}`;
    });
    process.stderr.write(
      `lgpo-run: ${summary.status} ${summary.steps} steps in ${summary.wallS.toFixed(1)} s; run directory ${summary.runDir}\n` +
        (evals.length ? `lgpo-run: ${evals.join(", ")}\n` : ""),
    );
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
