/**
 * Runs the `lgpo-run` CLI in a child process, as a user would, for the CLI tests.
 *
 * Asynchronous on purpose: a test worker that blocks in `spawnSync` for over a minute misses the
 * answers to its own RPCs to vitest, which then fails the whole run with "Timeout calling
 * onTaskUpdate" although every test passed.
 */
import { spawn } from "node:child_process";
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

/** Runs `command ...args` to completion, killing it (SIGTERM) after `timeoutMs`. */
export function runProcess(
  command: string,
  args: readonly string[],
  options: { timeoutMs: number; env?: Record<string, string>; cwd?: string; input?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timer = setTimeout(() => child.kill("SIGTERM"), options.timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `lgpo-run ...args` to completion; `env` adds to the parent's environment. */
export function runCli(
  args: readonly string[],
  options: { timeoutMs: number; env?: Record<string, string>; cwd?: string },
): Promise<CliResult> {
  return runProcess(process.execPath, [LGPO_RUN, ...args], options);
}
