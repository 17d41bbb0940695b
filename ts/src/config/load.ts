/**
 * Reading configs: YAML files with `extends:` chains, `--set a.b=c` overrides, validation against
 * the schema with one-line errors that name the key path, and the resolved config as YAML.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import YAML from "yaml";
import type { z } from "zod";

import { type ObjectiveConfig, objectiveRequirements } from "../sdk/objectives.js";
import { type RunConfig, RunConfigSchema } from "./schema.js";

/** A bad config: the message is one line naming the file or key path. The CLI exits 2. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** `over` merged into `base`: objects merge key by key, anything else (arrays too) replaces. */
export function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const prev = out[key];
    out[key] = isTree(prev) && isTree(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

/** Keys holding paths; a value starting with `./` or `../` in a file is relative to that file. */
const PATH_KEYS: readonly (readonly string[])[] = [
  ["model", "path"],
  ["data", "dataset"],
  ["sft", "dataset"],
  ["reward", "function"],
];

function resolveRelativePaths(tree: Tree, dir: string): Tree {
  const isRelative = (v: unknown): v is string => typeof v === "string" && /^\.\.?[/\\]/.test(v);
  const out = structuredClone(tree);
  for (const [section, key] of PATH_KEYS) {
    const node = out[section!];
    if (isTree(node) && isRelative(node[key!])) node[key!] = resolve(dir, node[key!] as string);
  }
  const benchmarks = isTree(out.eval) ? out.eval.benchmarks : undefined;
  if (Array.isArray(benchmarks)) {
    for (const b of benchmarks) if (isTree(b) && isRelative(b.dataset)) b.dataset = resolve(dir, b.dataset);
  }
  return out;
}

/**
 * Reads a YAML config file, following `extends: other.yaml` (relative to the file, chains allowed;
 * a list merges its files in order, later ones winning) so that a preset differs from its base
 * only where it says so. Paths written `./x` or `../x`
 * (model, datasets, reward module) are relative to the file that holds them. The result is not
 * validated yet.
 */
export function readConfigFile(path: string, seen: string[] = []): Tree {
  const file = resolve(path);
  if (seen.includes(file))
    throw new ConfigError(`${path}: \`extends\` forms a cycle (${[...seen, file].join(" -> ")})`);
  if (!existsSync(file)) {
    throw new ConfigError(
      seen.length ? `${seen.at(-1)}: extends ${path}, which does not exist` : `${path}: no such config file`,
    );
  }
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`${path}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isTree(doc)) throw new ConfigError(`${path}: the top level must be a mapping of config keys`);
  const { extends: parent, ...rest } = doc;
  const own = resolveRelativePaths(rest, dirname(file));
  if (parent === undefined) return own;
  const parents = Array.isArray(parent) ? parent : [parent];
  if (parents.length === 0 || parents.some((p) => typeof p !== "string"))
    throw new ConfigError(`${path}: \`extends\` must be a file path or a list of them`);
  const inherited = parents.reduce(
    (tree: Tree, p: string) => deepMerge(tree, readConfigFile(resolve(dirname(file), p), [...seen, file])),
    {},
  );
  return deepMerge(inherited, own);
}

/** Applies `key.path=value` overrides; values are parsed as YAML scalars (`1e-6`, `true`, `null`, `[1, 2]`). */
export function applyOverrides(tree: Tree, overrides: readonly string[]): Tree {
  let out = tree;
  for (const item of overrides) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new ConfigError(`--set ${item}: expected key.path=value`);
    const path = item.slice(0, eq).trim().split(".");
    if (path.some((p) => p === "")) throw new ConfigError(`--set ${item}: empty key in ${item.slice(0, eq)}`);
    let value: unknown;
    try {
      value = YAML.parse(item.slice(eq + 1));
    } catch (e) {
      throw new ConfigError(`--set ${item}: the value is not valid YAML (${(e as Error).message.split("\n")[0]})`);
    }
    out = setPath(out, path, value, item) as Tree;
  }
  return out;
}

const isMapping = (v: unknown): v is Tree => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * `tree` with `value` at `path` (copies along the path; `tree` is not changed). A mapping merges
 * into a mapping already there; a numeric key indexes a list (`eval.benchmarks.0.limit=8`).
 */
function setPath(node: unknown, path: readonly string[], value: unknown, item: string): unknown {
  if (path.length === 0) return isMapping(node) && isMapping(value) ? deepMerge(node, value) : value;
  const [key, ...rest] = path as [string, ...string[]];
  if (Array.isArray(node)) {
    const index = /^\d+$/.test(key) ? Number(key) : -1;
    if (index < 0 || index >= node.length)
      throw new ConfigError(`--set ${item}: \`${key}\` is not an index of the list there (0..${node.length - 1})`);
    const copy = node.slice();
    copy[index] = setPath(node[index], rest, value, item);
    return copy;
  }
  const mapping = isMapping(node) ? node : {};
  return { ...mapping, [key]: setPath(mapping[key], rest, value, item) };
}

function lookup(tree: unknown, path: readonly PropertyKey[]): unknown {
  let node = tree;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** One line for a zod issue: the key path first, then what was expected and what was found. */
function formatIssue(issue: z.core.$ZodIssue, input: unknown): string {
  const key = (extra: PropertyKey[] = []) => [...issue.path, ...extra].map(String).join(".") || "(top level)";
  const found = lookup(input, issue.path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const [first] = issue.keys;
      return `unknown key \`${key([first!])}\`${issue.keys.length > 1 ? ` (also: ${issue.keys.slice(1).join(", ")})` : ""}`;
    }
    case "invalid_type":
      if (found === undefined) return `\`${key()}\` is required (expected ${issue.expected})`;
      return `\`${key()}\` must be ${issue.expected === "int" ? "an integer" : `a ${issue.expected}`}, got ${describeValue(found)}`;
    case "invalid_value":
      return `\`${key()}\` must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describeValue(found)}`;
    case "too_small":
    case "too_big":
      return `\`${key()}\` ${issue.message.replace(/^Too (small|big): expected \w+ to (be|have) /, "must be ")}, got ${describeValue(found)}`;
    default:
      return `\`${key()}\`: ${issue.message}`;
  }
}

/** The full key path of an issue (an unknown key's own path, not its parent's). */
function issueKeyPath(issue: z.core.$ZodIssue): string[] {
  const path = issue.path.map(String);
  return issue.code === "unrecognized_keys" ? [...path, String(issue.keys[0])] : path;
}

/**
 * Validates a config tree: fills the defaults, or throws a {@link ConfigError} naming the first
 * bad key. `origin` names where the tree came from; a function of the bad key path can tell a
 * `--set` override from its file.
 */
export function resolveConfig(tree: unknown, origin: string | ((keyPath: string[]) => string) = "config"): RunConfig {
  const from = typeof origin === "string" ? () => origin : origin;
  const parsed = RunConfigSchema.safeParse(tree);
  if (!parsed.success) {
    // Every problem, on one line: the first one's origin, then each issue.
    const [first, ...rest] = parsed.error.issues;
    const all = [first!, ...rest].map((i) => formatIssue(i, tree)).join("; ");
    throw new ConfigError(`${from(issueKeyPath(first!))}: ${all}`);
  }
  checkObjective(parsed.data.objective, from(["objective"]));
  return parsed.data;
}

/** The `--set` item that wrote `keyPath` (or a key above or below it), else the file; the last one wins. */
function overrideOrigin(file: string, overrides: readonly string[]) {
  return (keyPath: string[]): string => {
    const item = [...overrides].reverse().find((o) => {
      const path = o
        .slice(0, Math.max(0, o.indexOf("=")))
        .trim()
        .split(".");
      const n = Math.min(path.length, keyPath.length);
      return n > 0 && path.slice(0, n).join(".") === keyPath.slice(0, n).join(".");
    });
    return item === undefined ? file : `--set ${item}`;
  };
}

/** Builds the objective in the core once, so that a section it does not use fails now, not at step 1. */
function checkObjective(objective: ObjectiveConfig, origin: string): void {
  try {
    objectiveRequirements(objective);
  } catch (e) {
    throw new ConfigError(`${origin}: objective: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** The options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** YAML file (its `extends` chain is followed). */
  file?: string;
  /** `key.path=value` overrides, applied in order after the file. */
  set?: readonly string[];
}

/** Reads, overrides and validates a config. */
export function loadConfig(options: LoadConfigOptions): RunConfig {
  const tree = options.file === undefined ? {} : readConfigFile(options.file);
  const overrides = options.set ?? [];
  return resolveConfig(applyOverrides(tree, overrides), overrideOrigin(options.file ?? "config", overrides));
}

/** The resolved config as YAML (what `--dry-run` prints and the run directory holds). */
export function configToYaml(config: RunConfig): string {
  return YAML.stringify(config, { lineWidth: 0 });
}
