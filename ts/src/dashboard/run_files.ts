/**
 * The only files the dashboard reads: metrics.jsonl and samples.jsonl of the run directories it
 * was given. A file that resolves (through symbolic links) outside its run directory is refused.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";

/** A file that the dashboard will not serve (it lies outside its run directory). */
export class RefusedPathError extends Error {
  override readonly name = "RefusedPathError";
}

/** `dir/name`, after checking that its real path lies inside the real path of `dir`; null when missing. */
export function runFile(dir: string, name: string): string | null {
  const path = join(dir, name);
  if (!existsSync(path)) return null;
  const root = realpathSync(dir);
  const real = realpathSync(path);
  if (!real.startsWith(root + sep))
    throw new RefusedPathError(`${name} of run ${dir} resolves outside the run directory; refused`);
  return path;
}

const FIRST_WINDOW = 256 * 1024;
const MAX_WINDOW = 16 * 1024 * 1024;

/** The last `limit` whole lines of a JSONL file (reads a window from the end, growing it until enough lines). */
export function lastLines(path: string, limit: number): string[] {
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    for (let window = FIRST_WINDOW; ; window *= 4) {
      const start = Math.max(0, size - window);
      const buffer = Buffer.alloc(size - start);
      readSync(fd, buffer, 0, buffer.length, start);
      let text = buffer.toString("utf8");
      // Drop a torn last line (no newline yet) and, unless at the file start, the cut first line.
      text = text.slice(0, text.lastIndexOf("\n") + 1);
      if (start > 0) text = text.slice(text.indexOf("\n") + 1);
      const lines = text.split("\n").filter((l) => l.trim() !== "");
      if (lines.length >= limit || start === 0 || window >= MAX_WINDOW) return lines.slice(-limit);
    }
  } finally {
    closeSync(fd);
  }
}
