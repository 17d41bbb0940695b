/** The training config: defaults, validation messages, extends, --set, the generated docs. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { afterAll, describe, expect, it } from "vitest";

import { configKeyDocs, configMarkdown } from "../../../ts/src/config/docs.js";
import {
  applyOverrides,
  ConfigError,
  configToYaml,
  loadConfig,
  readConfigFile,
  resolveConfig,
} from "../../../ts/src/config/load.js";
import { native } from "../../../ts/src/sdk/native.js";
import { REPO_ROOT } from "../data_files.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const minimal = {
  model: { path: "DIR" },
  objective: { name: "lgpo" },
  data: { task: "countdown" },
  rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 16 },
  trainer: { steps: 2, n_updates: 2 },
};

function errorOf(tree: unknown): string {
  try {
    resolveConfig(tree);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const message = (e as Error).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("expected a ConfigError");
}

describe("config schema", () => {
  it("fills every default of the issue's minimal config, with the paper's values", () => {
    const c = resolveConfig(minimal);
    expect(c.objective).toEqual({ name: "lgpo", entropy_coef: 0 });
    expect(c.rollout.temperature).toBe(1);
    expect(c.rollout.advantage).toEqual({ scale: "group_std", eps: 1e-6 });
    expect(c.trainer.optimizer).toEqual({ lr: 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 });
    expect(c.trainer.micro_batch_size).toBe(8);
    expect(c.seed).toBe(0);
    expect(c.eval.benchmarks).toEqual([]);
    // The paper's defaults where the paper gives them.
    const paper = resolveConfig({ model: { path: "x" }, data: { task: "math" }, trainer: { epochs: 1 } });
    expect([paper.rollout.prompts_per_step, paper.rollout.group_size, paper.trainer.n_updates]).toEqual([128, 8, 2]);
  });

  it("names the key path and the expected type of a bad key in one line", () => {
    expect(errorOf({ ...minimal, trainer: { steps: 2, n_updates: 2, frobnicate: 1 } })).toMatch(
      /unknown key `trainer\.frobnicate`/,
    );
    expect(errorOf({ ...minimal, extra: 1 })).toMatch(/unknown key `extra`/);
    expect(errorOf({ ...minimal, rollout: { ...minimal.rollout, group_size: "eight" } })).toMatch(
      /`rollout\.group_size` must be a number, got the string "eight"/,
    );
    expect(errorOf({ ...minimal, rollout: { ...minimal.rollout, group_size: 2.5 } })).toMatch(
      /`rollout\.group_size` must be an integer/,
    );
    expect(errorOf({ ...minimal, rollout: { ...minimal.rollout, group_size: 0 } })).toMatch(
      /`rollout\.group_size` must be >=1, got number 0/,
    );
    expect(errorOf({ ...minimal, objective: { name: "ppo" } })).toMatch(/`objective\.name` must be one of "lgpo", /);
    expect(errorOf({ ...minimal, model: {} })).toMatch(/`model\.path` is required/);
    expect(errorOf({ ...minimal, data: undefined })).toMatch(/`data` is required/);
  });

  it("rejects impossible combinations at parse time", () => {
    expect(errorOf({ ...minimal, trainer: { steps: 2, n_updates: 1, minibatch_size: 3 } })).toMatch(
      /trainer\.minibatch_size.*exceeds rollout\.prompts_per_step/,
    );
    expect(errorOf({ ...minimal, trainer: { steps: 2, n_updates: 3 } })).toMatch(/n_updates \(3\) must divide/);
    expect(errorOf({ ...minimal, trainer: { steps: 2, epochs: 1, n_updates: 2 } })).toMatch(/not both/);
    expect(
      errorOf({
        ...minimal,
        trainer: { steps: 2, n_updates: 2, old_logprobs: "generation" },
        rollout: { ...minimal.rollout, top_p: 0.9 },
      }),
    ).toMatch(/`trainer\.old_logprobs`.*without top-k\/top-p/);
    // The sampling log-probs are scored at the rollout temperature, so any temperature is exact.
    const tempered = { ...minimal, trainer: { steps: 2, n_updates: 2, old_logprobs: "generation" } };
    expect(resolveConfig({ ...tempered, rollout: { ...minimal.rollout, temperature: 0.7 } }).rollout.temperature).toBe(
      0.7,
    );
    // The objective is built by the core: a section it does not use is an error naming it.
    expect(errorOf({ ...minimal, objective: { name: "lgpo", clip: { low: 0.2 } } })).toMatch(
      /objective: .*remove `clip`/,
    );
    expect(errorOf({ ...minimal, objective: { name: "grpo", gate: { tau: -0.1 } } })).toMatch(/remove `gate`/);
    expect(
      resolveConfig({ ...minimal, trainer: { steps: 2, n_updates: 1, minibatch_size: 2 } }).trainer.minibatch_size,
    ).toBe(2);
  });

  it("lists every problem of an empty or incomplete config, not only the first", () => {
    expect(errorOf({})).toBe("config: `model` is required (expected object); `data` is required (expected object)");
    expect(
      errorOf({ model: { path: "DIR" }, data: { task: "countdown" }, trainer: { stepz: 1, n_updates: 0 } }),
    ).toMatch(/`trainer\.n_updates` must be >=1.*; unknown key `trainer\.stepz`/);
  });

  it("validates the gate modes, naming the bad field", () => {
    const gate = (g: object, name = "lgpo") => ({ ...minimal, objective: { name, gate: g } });
    expect(resolveConfig(gate({ mode: "quantile", q: 0.8 })).objective.gate).toEqual({ mode: "quantile", q: 0.8 });
    expect(
      resolveConfig(gate({ mode: "target", target: 0.2, tau: -0.1, exclude_forced: true }, "lgpo_random_gate"))
        .objective.gate?.mode,
    ).toBe("target");
    expect(errorOf(gate({ mode: "quantile", q: 1 }))).toMatch(/`objective\.gate\.q` must be <1, got number 1/);
    expect(errorOf(gate({ mode: "quantile", q: 0 }))).toMatch(/`objective\.gate\.q` must be >0/);
    expect(errorOf(gate({ mode: "target", target: 1.5 }))).toMatch(/`objective\.gate\.target` must be <1/);
    expect(errorOf(gate({ mode: "target", target: 0 }))).toMatch(/`objective\.gate\.target` must be >0/);
    expect(errorOf(gate({ mode: "median" }))).toMatch(
      /`objective\.gate\.mode` must be one of "fixed", "quantile", "target"/,
    );
    // A field of another mode is named, not ignored.
    expect(errorOf(gate({ mode: "quantile", tau: -0.1 }))).toMatch(
      /`objective\.gate\.tau`.*another gate mode than `quantile`/,
    );
    expect(errorOf(gate({ q: 0.9 }))).toMatch(/`objective\.gate\.q`.*than `fixed`/);
    expect(errorOf(gate({ mode: "target", tau_min: -0.01, tau_max: -0.1 }))).toMatch(
      /`objective\.gate\.tau_min`: must be below/,
    );
    expect(errorOf(gate({ mode: "target", tau: -3 }))).toMatch(/`objective\.gate\.tau`.*\[-2, -0\.005\]/);
    // A mode on an objective without a gate, and forced tokens on a task that has none.
    expect(errorOf(gate({ mode: "quantile" }, "grpo"))).toMatch(
      /objective: .*`grpo` has no likelihood gate: remove `gate`/,
    );
    expect(errorOf(gate({ exclude_forced: true }, "gspo"))).toMatch(/remove `gate`/);
    expect(errorOf({ ...gate({ exclude_forced: true }), data: { task: "math" } })).toMatch(
      /`objective\.gate\.exclude_forced`.*math task marks no forced tokens/,
    );
  });

  it("records the gate's values in use, defaults included, and takes the default tau from the core", () => {
    const gate = (g: object) => resolveConfig({ ...minimal, objective: { name: "lgpo", gate: g } }).objective.gate;
    expect(native().defaultGateTau()).toBe(-0.15);
    expect(gate({})).toEqual({ mode: "fixed", tau: -0.15 });
    expect(gate({ exclude_forced: true })).toEqual({ mode: "fixed", tau: -0.15, exclude_forced: true });
    expect(gate({ mode: "target" })).toEqual({
      mode: "target",
      tau: -0.15,
      target: 0.1,
      rate: 0.1,
      tau_min: -2,
      tau_max: -0.005,
    });
    // What config.yaml holds resolves to itself (a resume compares the two).
    const filled = resolveConfig({ ...minimal, objective: { name: "lgpo", gate: { mode: "quantile" } } });
    expect(resolveConfig(YAML.parse(configToYaml(filled))).objective.gate).toEqual({ mode: "quantile", q: 0.9 });
  });

  it("reads YAML with extends chains (deep merge), and --set overrides parsed as YAML scalars", () => {
    writeFileSync(
      join(tmp, "base.yaml"),
      YAML.stringify({ ...minimal, rollout: { ...minimal.rollout, temperature: 0.9 } }),
    );
    writeFileSync(join(tmp, "mid.yaml"), "extends: base.yaml\nobjective: {name: grpo}\nrollout: {group_size: 8}\n");
    mkdtempSync(join(tmp, "sub"));
    writeFileSync(join(tmp, "top.yaml"), "extends: ./mid.yaml\ntrainer: {steps: 5}\n");
    const tree = readConfigFile(join(tmp, "top.yaml"));
    expect(tree).toMatchObject({ objective: { name: "grpo" }, trainer: { steps: 5, n_updates: 2 } });
    expect(tree.rollout).toEqual({ prompts_per_step: 2, group_size: 8, max_new_tokens: 16, temperature: 0.9 });
    const c = loadConfig({
      file: join(tmp, "top.yaml"),
      set: ["trainer.optimizer.lr=1e-5", "rollout.top_p=0.95", "data.dataset=null", "eval.at_start=false"],
    });
    expect([c.trainer.optimizer.lr, c.rollout.top_p, c.data.dataset, c.eval.at_start]).toEqual([
      1e-5,
      0.95,
      null,
      false,
    ]);
    // A list of parents merges in order, later ones winning, then the file itself.
    writeFileSync(join(tmp, "sizes.yaml"), "rollout: {group_size: 2, max_new_tokens: 4}\ntrainer: {steps: 9}\n");
    writeFileSync(join(tmp, "both.yaml"), "extends: [top.yaml, sizes.yaml]\ntrainer: {steps: 7}\n");
    const both = readConfigFile(join(tmp, "both.yaml"));
    expect(both).toMatchObject({ objective: { name: "grpo" }, trainer: { steps: 7, n_updates: 2 } });
    expect(both.rollout).toEqual({ prompts_per_step: 2, group_size: 2, max_new_tokens: 4, temperature: 0.9 });
    writeFileSync(join(tmp, "badlist.yaml"), "extends: [top.yaml, 3]\n");
    expect(() => readConfigFile(join(tmp, "badlist.yaml"))).toThrow(/`extends` must be a file path or a list of them/);
    // An error in an override names the --set item, not the file; one in the file names the file.
    const top = join(tmp, "top.yaml");
    const errorIn = (set: string[], file = top) => {
      try {
        loadConfig({ file, set });
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    expect(errorIn(["trainer.stepz=3"])).toBe("--set trainer.stepz=3: unknown key `trainer.stepz`");
    expect(errorIn(["trainer.steps=3", "rollout.top_p=2"])).toMatch(
      /^--set rollout\.top_p=2: `rollout\.top_p` must be/,
    );
    expect(errorIn(["objective={name: grpo, gate: {tau: -0.1}}"])).toMatch(/^--set objective=.*remove `gate`/);
    writeFileSync(join(tmp, "bad.yaml"), "extends: top.yaml\ntrainer: {stepz: 3}\n");
    expect(errorIn(["rollout.top_p=0.9"], join(tmp, "bad.yaml"))).toMatch(/bad\.yaml: unknown key `trainer\.stepz`/);
    expect(applyOverrides({}, ["a.b.c=[1, 2]"])).toEqual({ a: { b: { c: [1, 2] } } });
    expect(() => applyOverrides({}, ["novalue"])).toThrow(/--set novalue: expected key\.path=value/);
    // A numeric key indexes a list; a mapping value merges into the mapping there.
    const tree2 = { eval: { benchmarks: [{ name: "a", limit: 200 }, { name: "b" }] }, objective: { name: "lgpo" } };
    expect(applyOverrides(tree2, ["eval.benchmarks.0.limit=8", "objective={gate: {tau: -0.1}}"])).toEqual({
      eval: { benchmarks: [{ name: "a", limit: 8 }, { name: "b" }] },
      objective: { name: "lgpo", gate: { tau: -0.1 } },
    });
    expect(tree2.eval.benchmarks[0]!.limit).toBe(200);
    expect(() => applyOverrides(tree2, ["eval.benchmarks.2.limit=8"])).toThrow(
      /--set eval\.benchmarks\.2\.limit=8: `2` is not an index of the list there \(0\.\.1\)/,
    );
    writeFileSync(join(tmp, "loop.yaml"), "extends: loop.yaml\n");
    expect(() => readConfigFile(join(tmp, "loop.yaml"))).toThrow(/cycle/);
    expect(() => readConfigFile(join(tmp, "missing.yaml"))).toThrow(/missing\.yaml: no such config file/);
    writeFileSync(join(tmp, "bad.yaml"), "model: [unclosed\n");
    expect(() => readConfigFile(join(tmp, "bad.yaml"))).toThrow(/bad\.yaml: not valid YAML/);
  });

  it("resolves ./ and ../ paths in a file relative to that file", () => {
    mkdirSync(join(tmp, "nested"), { recursive: true });
    writeFileSync(
      join(tmp, "nested/paths.yaml"),
      "model: {path: ../models/tiny}\ndata: {task: countdown, dataset: ./train.jsonl}\nreward: {function: reward.mjs}\n" +
        "eval: {benchmarks: [{name: b, task: countdown, dataset: ../b.jsonl}]}\ntrainer: {steps: 1}\n",
    );
    writeFileSync(join(tmp, "child.yaml"), "extends: nested/paths.yaml\nsft: {dataset: ./sft.jsonl}\n");
    const c = loadConfig({ file: join(tmp, "child.yaml"), set: ["trainer.steps=2"] });
    expect(c.model.path).toBe(join(tmp, "models/tiny"));
    expect(c.data.dataset).toBe(join(tmp, "nested/train.jsonl"));
    expect(c.sft.dataset).toBe(join(tmp, "sft.jsonl"));
    expect(c.reward.function).toBe("reward.mjs"); // not ./-relative: left as written (relative to the working directory)
    expect(c.eval.benchmarks[0]!.dataset).toBe(join(tmp, "b.jsonl"));
  });

  it("round-trips the resolved config through YAML", () => {
    const c = resolveConfig(minimal);
    expect(resolveConfig(YAML.parse(configToYaml(c)))).toEqual(c);
  });
});

describe("config docs", () => {
  it("documents every key, and docs/config.md is generated from the schema", () => {
    const docs = configKeyDocs();
    const keys = docs.map((d) => d.key);
    for (const k of [
      "model.path",
      "objective.gate.tau",
      "data.task",
      "rollout.prompts_per_step",
      "rollout.group_size",
      "rollout.max_new_tokens",
      "trainer.steps",
      "trainer.n_updates",
      "seed",
    ]) {
      expect(keys).toContain(k);
    }
    for (const d of docs) expect(d.description, d.key).not.toBe("");
    const committed = readFileSync(join(REPO_ROOT, "docs/config.md"), "utf8");
    expect(committed, "docs/config.md is stale: run `npm run docs:config`").toBe(configMarkdown());
  });
});
