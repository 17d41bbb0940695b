/**
 * Reading run directories (docs/run-directory.md): the resolved config.yaml and metrics.jsonl.
 * Reports and the dashboard read nothing else of a run.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { parse as parseYaml } from "yaml";

import { RUN_FILES } from "../logging/run_layout.js";
import { RunDirError } from "./errors.js";
import { JsonlTail } from "./jsonl_tail.js";
import { MetricTable } from "./metric_table.js";

/** Fails unless `dir` is an existing directory. */
export function checkRunDir(dir: string): void {
  if (!existsSync(dir)) throw new RunDirError(`run directory ${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new RunDirError(`run directory ${dir}: not a directory`);
}

/** The parsed config.yaml of a run; null when the run has none (yet). Bad YAML names the file. */
export function readRunConfig(dir: string): unknown {
  const path = join(dir, RUN_FILES.config);
  if (!existsSync(path)) return null;
  try {
    return parseYaml(readFileSync(path, "utf8")) ?? null;
  } catch (e) {
    throw new RunDirError(`${path}: not valid YAML (${(e as Error).message.split("\n")[0]})`);
  }
}

/** Every line of a run's metrics.jsonl; a run without one is an error (it is not a run directory). */
export function readRunMetrics(dir: string): MetricTable {
  const path = join(dir, RUN_FILES.metrics);
  if (!existsSync(path)) throw new RunDirError(`${path}: no such file (is ${dir} a run directory?)`);
  const table = new MetricTable(path);
  table.append(new JsonlTail(path).read().lines);
  return table;
}

/**
 * Short unique names for run directories: the folder name, with as many parent folders as it
 * takes to tell apart runs of the same name (`a/lgpo`, `b/lgpo`).
 */
export function runNames(dirs: string[]): string[] {
  const parts = dirs.map((d) =>
    resolve(d)
      .split(sep)
      .filter((p) => p !== ""),
  );
  const names = parts.map((p) => p.slice(-1).join("/"));
  for (let depth = 2; depth <= Math.max(...parts.map((p) => p.length)); depth++) {
    const clash = names.map((n) => names.filter((m) => m === n).length > 1);
    if (!clash.includes(true)) break;
    parts.forEach((p, i) => {
      if (clash[i]) names[i] = p.slice(-depth).join("/");
    });
  }
  return names;
}
