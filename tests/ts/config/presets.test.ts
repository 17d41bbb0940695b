/** The presets in configs/: each resolves, carries the paper's settings, and differs from its base only where the paper's runs differ. */
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

import { loadConfig } from "../../../ts/src/config/load.js";
import type { TrainConfig } from "../../../ts/src/config/schema.js";
import { OBJECTIVE_NAMES } from "../../../ts/src/sdk/objectives.js";
import { REPO_ROOT } from "../data_files.js";

const CONFIGS = join(REPO_ROOT, "configs");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? yamlFiles(p) : n.endsWith(".yaml") ? [p] : [];
  });
}

function without(c: TrainConfig, keys: ("objective" | "trainer")[]) {
  return Object.fromEntries(Object.entries(c).filter(([k]) => !keys.includes(k as "objective")));
}

describe("presets", () => {
  const files = yamlFiles(join(CONFIGS, "paper"));
  const presets = new Map(files.map((f) => [relative(CONFIGS, f), loadConfig({ file: f })]));

  it("cover every objective for both tasks, plus the fully on-policy runs", () => {
    for (const task of ["countdown", "math"]) {
      for (const name of OBJECTIVE_NAMES)
        expect(presets.has(`paper/${task}/${name}.yaml`), `${task}/${name}`).toBe(true);
      expect(presets.has(`paper/${task}/onpolicy/lgpo.yaml`)).toBe(true);
      expect(presets.has(`paper/${task}/onpolicy/grpo.yaml`)).toBe(true);
    }
  });

  it("carry the paper's hyper-parameters (Section 5)", () => {
    for (const [file, c] of presets) {
      const math = file.includes("/math/");
      const onPolicy = file.includes("/onpolicy/");
      expect(c.model.path, file).toBe(math ? "Qwen/Qwen2.5-Math-1.5B" : "Qwen/Qwen2.5-3B-Instruct");
      expect(c.rollout.prompts_per_step, file).toBe(math ? 256 : 128);
      expect(c.rollout.group_size, file).toBe(8);
      expect(c.trainer.n_updates, file).toBe(onPolicy ? 1 : math ? 4 : 2);
      expect(c.trainer.minibatch_size, file).toBe(onPolicy ? c.rollout.prompts_per_step : 64);
      expect(c.objective.kl?.coef ?? 0, file).toBe(0);
      if (c.objective.name.startsWith("lgpo") && !file.endsWith("base.yaml"))
        expect(c.objective.gate?.tau, file).toBe(-0.15);
    }
  });

  it("differ from their base only in the objective (and N_updates for the on-policy runs)", () => {
    for (const [file, c] of presets) {
      if (file.endsWith("base.yaml")) continue;
      const base = presets.get(file.replace(/(onpolicy\/)?[^/]+\.yaml$/, "base.yaml"))!;
      if (file.includes("/onpolicy/")) {
        expect(without(c, ["objective", "trainer"]), file).toEqual(without(base, ["objective", "trainer"]));
        expect({ ...c.trainer, n_updates: 0, minibatch_size: 0 }).toEqual({
          ...base.trainer,
          n_updates: 0,
          minibatch_size: 0,
        });
      } else {
        expect(without(c, ["objective"]), file).toEqual(without(base, ["objective"]));
      }
    }
  });
});
