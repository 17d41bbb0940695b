/**
 * Comparing the resolved configs of runs: which keys differ (the report's table), and which runs
 * differ only by seed (drawn together as a mean with a band).
 */
import { basename, resolve, sep } from "node:path";

import type { ConfigDiff, PageGroup } from "./page_data.js";

/** A run's resolved config, flattened, with the run directory it belongs to. */
export interface RunConfig {
  /** The run directory (to recognise values that name it). */
  dir: string;
  /** Short name of the run, for group labels. */
  name: string;
  /** Parsed config.yaml; null when the run has none. */
  config: unknown;
}

/** Flattens nested objects into dotted keys; arrays and scalars are leaves, shown as JSON. */
export function flattenConfig(config: unknown, prefix = "", out = new Map<string, string>()): Map<string, string> {
  if (config !== null && typeof config === "object" && !Array.isArray(config)) {
    for (const [key, value] of Object.entries(config)) flattenConfig(value, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix !== "") {
    out.set(prefix, typeof config === "string" ? config : JSON.stringify(config));
  }
  return out;
}

/** A seed knob: a key whose last part is `seed` or ends in `_seed` (e.g. `seed`, `data.shuffle_seed`). */
export function isSeedKey(key: string): boolean {
  const last = key.slice(key.lastIndexOf(".") + 1);
  return last === "seed" || last.endsWith("_seed");
}

/**
 * A value that names the run's own directory or a path inside it (its output directory, its
 * checkpoint folder): such values differ between any two runs and say nothing about the method.
 */
export function namesRunDir(value: string, runDir: string): boolean {
  const dir = resolve(runDir);
  const path = resolve(value);
  if (path === dir || path.startsWith(dir + sep)) return true;
  // Written by a trainer started from another folder: the run's folder name is one of the parts.
  return value.split(/[\\/]/).includes(basename(dir));
}

function comparable(run: RunConfig, ignoreSeeds: boolean): Map<string, string> {
  const flat = flattenConfig(run.config);
  for (const [key, value] of [...flat]) {
    if ((ignoreSeeds && isSeedKey(key)) || namesRunDir(value, run.dir)) flat.delete(key);
  }
  return flat;
}

/** The keys whose values differ between runs (run-directory paths left out), in sorted order. */
export function configDiff(runs: RunConfig[]): ConfigDiff {
  const flats = runs.map((run) => comparable(run, false));
  const all = new Set(flats.flatMap((f) => [...f.keys()]));
  const keys = [...all].filter((key) => new Set(flats.map((f) => f.get(key) ?? "\u0000")).size > 1).sort();
  return { keys, values: flats.map((f) => keys.map((key) => f.get(key) ?? "")) };
}

/**
 * Groups runs whose configs are equal once seeds and run-directory paths are left out. Runs
 * without a config are never grouped. Groups keep the order of their first run.
 */
export function seedGroups(runs: RunConfig[]): PageGroup[] {
  const byConfig = new Map<string, number[]>();
  const groups: number[][] = [];
  runs.forEach((run, i) => {
    if (run.config === null) {
      groups.push([i]);
      return;
    }
    const identity = JSON.stringify([...comparable(run, true)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const members = byConfig.get(identity);
    if (members) members.push(i);
    else {
      const group = [i];
      byConfig.set(identity, group);
      groups.push(group);
    }
  });
  return groups.map((members) => ({ label: groupLabel(members.map((i) => runs[i]!.name)), runs: members }));
}

/** `lgpo-seed0, lgpo-seed1` → `lgpo (2 seeds)`: the names' common prefix without a trailing seed marker. */
export function groupLabel(names: string[]): string {
  if (names.length === 1) return names[0]!;
  let prefix = names[0]!;
  for (const name of names) while (!name.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const stem = prefix.replace(/[-_./\s]*(seed|s)?[-_.\s]*$/i, "");
  return `${stem === "" ? names[0] : stem} (${names.length} seeds)`;
}
