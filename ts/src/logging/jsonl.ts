/**
 * JSONL logs of a run directory (metrics.jsonl, samples.jsonl): whole lines appended one at a
 * time, and cut back to a checkpoint's step when a run resumes, so the resumed run's lines follow
 * on exactly where the checkpoint left off.
 */
import { appendFileSync, existsSync, readFileSync } from "node:fs";

import { writeFileAtomic } from "../util/atomic_write.js";

/** Appends one object as one line. */
export function appendJsonl(path: string, value: unknown): void {
  appendFileSync(path, `${JSON.stringify(value, finiteOrNull)}\n`);
}

/** JSON has no NaN or Infinity: such values are written as null ("no value"). */
function finiteOrNull(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? null : value;
}

/** The objects of a JSONL file; a torn last line (a crash mid-write) is ignored. */
export function readJsonlObjects(path: string): Record<string, unknown>[] {
  if (!existsSync(path)) return [];
  const out: Record<string, unknown>[] = [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch (e) {
      if (i < lines.length - 1 && lines.slice(i + 1).some((l) => l.trim() !== "")) {
        throw new Error(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
    }
  });
  return out;
}

/** Keeps the lines whose `step` is at most `step` (atomically: a temporary file renamed into place). */
export function truncateJsonlAfterStep(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readJsonlObjects(path).filter((o) => typeof o.step === "number" && o.step <= step);
  writeFileAtomic(path, kept.map((o) => `${JSON.stringify(o)}\n`).join(""));
}
