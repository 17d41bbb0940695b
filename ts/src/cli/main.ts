/**
 * `lgpo-run`: the command line of lgpo. Each command calls SDK functions only.
 * Exit codes: 0 success, 2 bad arguments or input (one-line message), 1 internal failure.
 */
import { Command, CommanderError } from "commander";

import { VERSION } from "../version.js";
import { registerBench } from "./bench.js";
import { registerDashboard } from "./dashboard.js";
import { registerDownload } from "./download.js";
import { exitCodeOf, oneLine } from "./errors.js";
import { registerEval } from "./eval.js";
import { registerGenerate } from "./generate.js";
import { registerReport } from "./report.js";
import { registerScore } from "./score.js";
import { registerSweep } from "./sweep.js";
import { registerTrain } from "./train.js";
import { registerVerify } from "./verify.js";

/** The `lgpo-run` program: each command registers itself from its own file. */
export function program(): Command {
  const cli = new Command("lgpo-run")
    .description("RL post-training with Likelihood-Gated Policy Optimization (LGPO) and its baselines")
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  registerScore(cli);
  registerGenerate(cli);
  registerVerify(cli);
  registerTrain(cli);
  registerEval(cli);
  registerDownload(cli);
  registerReport(cli);
  registerDashboard(cli);
  registerBench(cli);
  registerSweep(cli);

  return cli;
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
