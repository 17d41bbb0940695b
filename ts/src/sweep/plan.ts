/**
 * A sweep plan: arms (one training config each, with optional `--set` overrides) run for a list
 * of seeds into `<out>/<arm>/seed-<n>`. Paths in the plan are relative to the plan file.
 *
 *   name: claim-2
 *   out: ../../runs/paper          # run directories (default: runs/sweeps/<name> under the cwd)
 *   results: ../results/paper      # small outputs of finished runs, copied for committing
 *   seeds: [0, 1, 2]
 *   set: ["eval.every=20"]         # overrides for every arm
 *   arms:
 *     grpo: configs/grpo-n1.yaml
 *     lgpo-q: { config: configs/lgpo-n1.yaml, set: ["objective.gate={mode: quantile}"], seeds: [0] }
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import YAML from "yaml";
import { z } from "zod";

import { ConfigError } from "../config/load.js";

/** One arm of a plan, paths resolved. */
export interface SweepArm {
  name: string;
  /** Training config file (absolute). */
  config: string;
  /** `--set` overrides: the plan's, then the arm's. */
  set: string[];
  seeds: number[];
}

/** A parsed plan, paths resolved. */
export interface SweepPlan {
  name: string;
  /** The plan file (absolute). */
  file: string;
  /** Where run directories go. */
  out: string;
  /** Where finished runs' metrics.jsonl, summary.json and config.yaml are copied (null: nowhere). */
  results: string | null;
  arms: SweepArm[];
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const seeds = z.array(z.number().int().nonnegative()).min(1);
const sets = z.array(z.string().regex(/^[^=]+=/, "must be key.path=value"));
const armSchema = z.union([
  z.string().min(1),
  z.object({ config: z.string().min(1), set: sets.default([]), seeds: seeds.optional() }).strict(),
]);
const planSchema = z
  .object({
    name: z.string().regex(NAME, "must be letters, digits, '.', '_' or '-'"),
    description: z.string().optional(),
    out: z.string().min(1).optional(),
    results: z.string().min(1).optional(),
    seeds: seeds.default([0]),
    set: sets.default([]),
    arms: z.record(z.string().regex(NAME, "arm names must be letters, digits, '.', '_' or '-'"), armSchema),
  })
  .strict();

/** Reads and checks a plan file; every problem is named by its field. */
export function readPlan(path: string, cwd = process.cwd()): SweepPlan {
  const file = resolve(cwd, path);
  let doc: unknown;
  try {
    doc = YAML.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new ConfigError(`${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  const parsed = planSchema.safeParse(doc ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `\`${i.path.join(".") || "(plan)"}\` ${i.message}`);
    throw new ConfigError(`${path}: ${problems.join("; ")}`);
  }
  const p = parsed.data;
  if (Object.keys(p.arms).length === 0) throw new ConfigError(`${path}: \`arms\` is empty`);
  const here = dirname(file);
  return {
    name: p.name,
    file,
    out: p.out ? resolve(here, p.out) : resolve(cwd, "runs/sweeps", p.name),
    results: p.results ? resolve(here, p.results) : null,
    arms: Object.entries(p.arms).map(([name, arm]) => {
      const a = typeof arm === "string" ? { config: arm, set: [], seeds: undefined } : arm;
      return { name, config: resolve(here, a.config), set: [...p.set, ...a.set], seeds: a.seeds ?? p.seeds };
    }),
  };
}
