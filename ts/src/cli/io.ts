/** Input and output of the CLI: JSONL reading with line numbers, atomic output files, progress. */
import { existsSync, readFileSync } from "node:fs";

import { writeFileAtomic } from "../util/atomic_write.js";
import { UsageError } from "./errors.js";

/** The objects of a JSONL file, with their 1-based line numbers; bad JSON names the line. */
export function readJsonl(path: string): { line: number; value: Record<string, unknown> }[] {
  if (!existsSync(path)) throw new UsageError(`--input ${path}: no such file`);
  const out: { line: number; value: Record<string, unknown> }[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((text, i) => {
      if (text.trim() === "") return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        throw new UsageError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new UsageError(`${path}:${i + 1}: expected a JSON object`);
      }
      out.push({ line: i + 1, value: value as Record<string, unknown> });
    });
  return out;
}

/**
 * Writes `lines` to `path` through a temporary file renamed into place (nothing half-written on
 * failure), or to stdout when no path is given.
 */
export function writeLines(lines: string[], path: string | undefined): void {
  const text = lines.map((l) => l + "\n").join("");
  if (path === undefined) {
    process.stdout.write(text);
    return;
  }
  writeFileAtomic(path, text);
}

/** A progress line on stderr when it is a terminal: `label 128/1000`. */
export function progress(label: string, total: number): { tick(done: number): void; end(): void } {
  const tty = process.stderr.isTTY === true;
  return {
    tick(done: number) {
      if (tty) process.stderr.write(`\r${label} ${done}/${total}`);
    },
    end() {
      if (tty) process.stderr.write("\n");
    },
  };
}
