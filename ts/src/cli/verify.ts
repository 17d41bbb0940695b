/** `lgpo-run verify`: one verdict per line of a JSONL file, then a summary on stderr. */
import type { Command } from "commander";
import { createWriteStream, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { finished } from "node:stream/promises";

import { formatVerifySummary, verifyFile, type VerifyTask } from "../rewards/verify_file.js";
import { UsageError } from "./errors.js";

export interface VerifyCliOptions {
  task: string;
  input: string;
  out?: string;
}

export async function verify(options: VerifyCliOptions): Promise<void> {
  if (options.task !== "countdown" && options.task !== "math") {
    throw new UsageError(`--task must be countdown or math, got "${options.task}"`);
  }
  const task = options.task as VerifyTask;
  if (options.out === undefined) {
    const summary = await verifyFile(task, options.input, process.stdout);
    process.stderr.write(formatVerifySummary(summary) + "\n");
    return;
  }
  const tmp = join(dirname(options.out), `.${basename(options.out)}.tmp-${process.pid}`);
  const stream = createWriteStream(tmp);
  try {
    const summary = await verifyFile(task, options.input, stream);
    stream.end();
    await finished(stream);
    renameSync(tmp, options.out);
    process.stderr.write(formatVerifySummary(summary) + "\n");
  } catch (e) {
    stream.destroy();
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Adds the `verify` command to `cli`. */
export function registerVerify(cli: Command): void {
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
}
