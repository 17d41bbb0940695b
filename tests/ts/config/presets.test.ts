/** The presets in configs/: each resolves, carries the paper's settings, and differs from its base only where the paper's runs differ. */
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

import { loadConfig } from "../../../ts/src/config/load.js";
import type { RunConfig } from "../../../ts/src/config/schema.js";
import { OBJECTIVE_NAMES } from "../../../ts/src/sdk/objectives.js";
import { runCli } from "../cli_runner.js";
import { REPO_ROOT } from "../data_files.js";

const CONFIGS = join(REPO_ROOT, "configs");

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? yamlFiles(p) : n.endsWith(".yaml") ? [p] : [];
  });
}

function without(c: RunConfig, keys: ("objective" | "trainer")[]) {
  return Object.fromEntries(Object.entries(c).filter(([k]) => !keys.includes(k as "objective")));
}

describe("presets", () => {
  const files = yamlFiles(join(CONFIGS, "paper"));
  const presets = new Map(files.map((f) => [relative(CONFIGS, f), loadConfig({ file: f })]));

  it("cover every objective for both tasks, plus the fully on-policy runs", async () => {
    for (const task of ["countdown", "math"]) {
      for (const name of OBJECTIVE_NAMES)
        expect(presets.has(`paper/${task}/${name}.yaml`), `${task}/${name}`).toBe(true);
      expect(presets.has(`paper/${task}/onpolicy/lgpo.yaml`)).toBe(true);
      expect(presets.has(`paper/${task}/onpolicy/grpo.yaml`)).toBe(true);
    }
  });

  it("carry the paper's hyper-parameters (Section 5)", async () => {
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

  it("differ from their base only in the objective (and N_updates for the on-policy runs)", async () => {
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

describe("CPU-sized presets (configs/cpu)", () => {
  const paper = join(CONFIGS, "paper/countdown");
  const cpu = yamlFiles(join(CONFIGS, "cpu/countdown")).filter((f) => !f.endsWith("cpu.yaml"));

  it("exist for every Countdown preset, with the paper's objective and N_updates on the shipped model", async () => {
    const paperFiles = yamlFiles(paper)
      .filter((f) => !f.endsWith("base.yaml"))
      .map((f) => relative(paper, f))
      .sort();
    expect(cpu.map((f) => relative(join(CONFIGS, "cpu/countdown"), f)).sort()).toEqual(paperFiles);
    for (const file of cpu) {
      const c = loadConfig({ file });
      const original = loadConfig({ file: join(paper, relative(join(CONFIGS, "cpu/countdown"), file)) });
      expect(c.objective, file).toEqual(original.objective);
      expect(c.trainer.n_updates, file).toBe(original.trainer.n_updates);
      expect(c.model, file).toMatchObject({ path: join(REPO_ROOT, "models/countdown-tiny"), device: "cpu" });
      expect(c.data.dataset, file).toBeNull();
      expect(c.rollout.prompts_per_step % c.trainer.n_updates, file).toBe(0);
    }
  });

  it("train on the CPU with no network (2 steps of the fully on-policy LGPO preset)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lgpo-cpu-preset-"));
    try {
      const r = await runCli(
        [
          "train",
          "--config",
          join(CONFIGS, "cpu/countdown/onpolicy/lgpo.yaml"),
          "--set",
          "trainer.steps=2",
          "--set",
          "eval.benchmarks=[]",
          "--run-dir",
          join(dir, "run"),
          "--offline",
        ],
        { timeoutMs: 120_000 },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/completed 2 steps/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
