/**
 * What a resumed run may change: the keys that decide how long it runs, how often it evaluates,
 * checkpoints and logs, and where it lives. Any other change would make the resumed run compute
 * something else than the run it continues, so it is an error naming the keys (unless forced).
 */
import YAML from "yaml";

import { ConfigError, resolveConfig } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";

/** Key paths (and the sections below them) that a resume may change. */
export const RESUME_SAFE_KEYS = ["trainer.steps", "trainer.epochs", "eval", "logging", "checkpoint", "run_dir"];

function flatten(node: unknown, prefix: string, out: Map<string, string>): void {
  if (node !== null && typeof node === "object" && !Array.isArray(node)) {
    for (const [k, v] of Object.entries(node)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, JSON.stringify(node));
  }
}

const safe = (key: string) => RESUME_SAFE_KEYS.some((s) => key === s || key.startsWith(`${s}.`));

/** The keys whose values differ between two resolved configs, outside {@link RESUME_SAFE_KEYS}. */
export function unsafeChanges(before: RunConfig, after: RunConfig): string[] {
  const [a, b] = [new Map<string, string>(), new Map<string, string>()];
  flatten(before, "", a);
  flatten(after, "", b);
  const keys = new Set([...a.keys(), ...b.keys()]);
  return [...keys].filter((k) => !safe(k) && a.get(k) !== b.get(k)).sort();
}

/**
 * The keys in which `config` differs from the run's (`runConfigYaml`, read from `origin`) outside
 * {@link RESUME_SAFE_KEYS}; throws a ConfigError naming them unless `force`.
 */
export function checkResumeConfig(runConfigYaml: string, origin: string, config: RunConfig, force: boolean): string[] {
  const before = resolveConfig(YAML.parse(runConfigYaml), origin);
  const changed = unsafeChanges(before, config);
  if (changed.length && !force) {
    throw new ConfigError(
      `--resume: the config differs from the run's (${origin}) in ${changed.join(", ")}; a resume may change only ${RESUME_SAFE_KEYS.join(", ")} (--force resumes anyway)`,
    );
  }
  return changed;
}
