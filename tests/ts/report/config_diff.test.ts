/** Config differences between runs and the grouping of runs that differ only by seed. */
import { describe, expect, it } from "vitest";

import { configDiff, flattenConfig, groupLabel, namesRunDir, seedGroups } from "../../../ts/src/report/config_diff.js";

const base = (dir: string, seed: number, lr = 1e-6, objective = "lgpo") => ({
  dir,
  name: dir.split("/").pop()!,
  config: {
    seed,
    objective: { name: objective, tau: -0.15 },
    optim: { lr, betas: [0.9, 0.99] },
    logging: { dir, checkpoint_dir: `${dir}/checkpoints` },
    data: { shuffle_seed: seed + 1, path: "data/countdown.jsonl" },
  },
});

describe("config differences", () => {
  it("flattens nested keys; arrays are one value", () => {
    expect([...flattenConfig({ a: { b: 1, c: [1, 2] }, d: "x", e: null })]).toEqual([
      ["a.b", "1"],
      ["a.c", "[1,2]"],
      ["d", "x"],
      ["e", "null"],
    ]);
  });

  it("lists the keys that differ, leaving out values naming the run's own directory", () => {
    const runs = [base("/r/lgpo-s0", 0), base("/r/grpo-s0", 0, 2e-6, "grpo"), { dir: "/r/x", name: "x", config: null }];
    const diff = configDiff(runs);
    expect(diff.keys).toEqual([
      "data.path",
      "data.shuffle_seed",
      "objective.name",
      "objective.tau",
      "optim.betas",
      "optim.lr",
      "seed",
    ]);
    expect(diff.values[0]).toEqual(["data/countdown.jsonl", "1", "lgpo", "-0.15", "[0.9,0.99]", "0.000001", "0"]);
    expect(diff.values[1]![5]).toBe("0.000002");
    expect(diff.values[2]).toEqual(["", "", "", "", "", "", ""]);
  });

  it("recognises run-directory paths written from another working directory", () => {
    expect(namesRunDir("/r/lgpo-s0", "/r/lgpo-s0")).toBe(true);
    expect(namesRunDir("/r/lgpo-s0/checkpoints", "/r/lgpo-s0")).toBe(true);
    expect(namesRunDir("runs/lgpo-s0", "/elsewhere/lgpo-s0")).toBe(true);
    expect(namesRunDir("data/countdown.jsonl", "/r/lgpo-s0")).toBe(false);
    expect(namesRunDir("lgpo", "/r/lgpo-s0")).toBe(false);
  });
});

describe("seed groups", () => {
  it("groups runs equal but for seeds and run-directory paths, in order of first member", () => {
    const runs = [
      base("/r/lgpo-seed0", 0),
      base("/r/grpo-seed0", 0, 1e-6, "grpo"),
      base("/r/lgpo-seed1", 1),
      base("/r/lgpo-lr2-seed0", 0, 2e-6),
      base("/r/grpo-seed1", 1, 1e-6, "grpo"),
      { dir: "/r/nocfg-a", name: "nocfg-a", config: null },
      { dir: "/r/nocfg-b", name: "nocfg-b", config: null },
    ];
    expect(seedGroups(runs)).toEqual([
      { label: "lgpo (2 seeds)", runs: [0, 2] },
      { label: "grpo (2 seeds)", runs: [1, 4] },
      { label: "lgpo-lr2-seed0", runs: [3] },
      { label: "nocfg-a", runs: [5] },
      { label: "nocfg-b", runs: [6] },
    ]);
  });

  it("labels a group by the common part of its names", () => {
    expect(groupLabel(["lgpo_s1", "lgpo_s2", "lgpo_s3"])).toBe("lgpo (3 seeds)");
    expect(groupLabel(["a", "b"])).toBe("a (2 seeds)");
    // A sweep's runs, <arm>/seed-<n>: the folder separator goes with the seed marker.
    expect(groupLabel(["grpo-n1/seed-0", "grpo-n1/seed-1"])).toBe("grpo-n1 (2 seeds)");
  });
});
