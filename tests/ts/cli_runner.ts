/** Runs the `lgpo-run` CLI in a child process, as a user would, for the CLI tests. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { REPO_ROOT } from "./data_files.js";

/** The CLI's entry script. */
export const LGPO_RUN = join(REPO_ROOT, "ts/bin/lgpo-run.js");

/** Exit code (null when killed), signal, and the captured output of one CLI run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `lgpo-run ...args` to completion; `env` adds to the parent's environment. */
export function runCli(
  args: readonly string[],
  options: { timeoutMs: number; env?: Record<string, string>; cwd?: string },
): CliResult {
  const r = spawnSync(process.execPath, [LGPO_RUN, ...args], {
    encoding: "utf8",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    timeout: options.timeoutMs,
    env: { ...process.env, ...options.env },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}
