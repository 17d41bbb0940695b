/**
 * `lgpo-run sweep`: plan checks name the field; runs go seed-major into <out>/<arm>/seed-<n>; a
 * second call skips finished runs; a run killed mid-checkpoint fails the sweep and the next call
 * resumes it to the uninterrupted metrics; results are copied; `--quick` starts every arm of every
 * reproduction plan in experiments/paper (the CI check that each arm's config runs).
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ConfigError } from "../../../ts/src/config/load.js";
import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import { planRuns, readPlan, runArgs } from "../../../ts/src/sweep/index.js";
import { LGPO_RUN, runCli } from "../cli_runner.js";
import { REPO_ROOT } from "../data_files.js";
import { tinyByteModel } from "../train/tiny_model.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-sweep-"));
let planFile: string;
let model: string;
beforeAll(async () => {
  model = await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 });
  writeFileSync(
    join(tmp, "parity.mjs"),
    "export default ({ response }) => (response.length ? response.charCodeAt(0) % 2 : 0);\n",
  );
  const base = {
    model: { path: model },
    data: { task: "countdown" },
    rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 8 },
    trainer: { steps: 4, n_updates: 2 },
    reward: { function: "./parity.mjs" },
    checkpoint: { every: 2 },
    logging: { progress: "none" },
  };
  writeFileSync(join(tmp, "lgpo.yaml"), YAML.stringify({ ...base, objective: { name: "lgpo", gate: { tau: -5.5 } } }));
  writeFileSync(join(tmp, "grpo.yaml"), YAML.stringify({ ...base, objective: { name: "grpo" } }));
  planFile = join(tmp, "plan.yaml");
  writeFileSync(
    planFile,
    YAML.stringify({
      name: "t",
      out: "./runs",
      results: "./results",
      seeds: [0, 1],
      set: ["trainer.optimizer.lr=0.01"],
      arms: { lgpo: "lgpo.yaml", grpo: { config: "grpo.yaml", set: ["trainer.n_updates=1"], seeds: [1] } },
    }),
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sweep = (args: string[], env: Record<string, string> = {}) =>
  runCli(["sweep", ...args], { timeoutMs: 600_000, env, cwd: tmp });
const untimed = (dir: string) =>
  readJsonlObjects(join(dir, "metrics.jsonl")).map((l) =>
    Object.fromEntries(Object.entries(l).filter(([k]) => k !== "time" && !k.startsWith("time/"))),
  );

describe("sweep plans", () => {
  it("resolve paths against the plan file and order runs seed-major", async () => {
    const plan = readPlan(planFile);
    expect(plan.out).toBe(join(tmp, "runs"));
    expect(plan.arms.map((a) => [a.name, a.config, a.set, a.seeds])).toEqual([
      ["lgpo", join(tmp, "lgpo.yaml"), ["trainer.optimizer.lr=0.01"], [0, 1]],
      ["grpo", join(tmp, "grpo.yaml"), ["trainer.optimizer.lr=0.01", "trainer.n_updates=1"], [1]],
    ]);
    const runs = planRuns(plan);
    expect(runs.map((r) => `${r.arm.name}/${r.seed}`)).toEqual(["lgpo/0", "lgpo/1", "grpo/1"]);
    expect(runArgs(runs[2]!)).toEqual([
      "train",
      "--config",
      join(tmp, "grpo.yaml"),
      ...["--set", "trainer.optimizer.lr=0.01", "--set", "trainer.n_updates=1", "--set", "seed=1"],
      ...["--run-dir", join(tmp, "runs/grpo/seed-1")],
    ]);
    expect(planRuns(plan, { quick: true }).map((r) => r.dir)).toEqual([
      join(tmp, "runs-quick/lgpo/seed-0"),
      join(tmp, "runs-quick/grpo/seed-1"),
    ]);
    expect(() => planRuns(plan, { only: ["gspo"] })).toThrow(/--only: no arm named gspo .*arms: lgpo, grpo/);
  });

  it("name every bad field", async () => {
    const bad = join(tmp, "bad.yaml");
    for (const [doc, message] of [
      [{ name: "x", arms: { a: "a.yaml" }, speed: 2 }, /Unrecognized key.*speed/],
      [{ name: "x y", arms: { a: "a.yaml" } }, /`name` must be letters/],
      [{ name: "x", seeds: [-1], arms: { a: "a.yaml" } }, /`seeds.0`/],
      [{ name: "x", arms: { a: { config: "a.yaml", set: ["lr"] } } }, /`arms.a.set.0` must be key.path=value/],
      [{ name: "x", arms: {} }, /`arms` is empty/],
    ] as const) {
      writeFileSync(bad, YAML.stringify(doc));
      expect(() => readPlan(bad)).toThrow(ConfigError);
      expect(() => readPlan(bad)).toThrow(message);
    }
  });
});

describe("lgpo-run sweep", () => {
  it("adds --set overrides to every arm, after the plan's and the arm's", async () => {
    const list = await sweep([planFile, "--list", "--set", "trainer.steps=3", "--set", "rollout.group_size=2"]);
    expect(list.code, list.stderr).toBe(0);
    const commands = list.stdout.trim().split("\n");
    expect(commands).toHaveLength(3);
    for (const c of commands) {
      expect(c).toMatch(/--set trainer.optimizer.lr=0.01 .*--set trainer.steps=3 --set rollout.group_size=2 /);
    }
    expect(commands[2]).toMatch(/--set trainer.n_updates=1 --set trainer.steps=3/);
    const bad = await sweep([planFile, "--list", "--set", "steps"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--set steps: must be key.path=value/);
  });

  it("runs, skips what is done, and resumes a run killed mid-checkpoint to the uninterrupted metrics", async () => {
    // The first run (lgpo seed 0) dies writing its step-4 checkpoint: the sweep stops there, failed.
    const killed = await sweep([planFile], { LGPO_FAULT: "checkpoint-write@4" });
    expect(killed.code).toBe(1);
    expect(killed.stderr).toMatch(/lgpo seed 0 failed \(exit SIGKILL\)/);
    const list = await sweep([planFile, "--list"]);
    expect(list.stdout.split("\n").map((l) => l.split("\t").slice(0, 3).join(" "))).toEqual([
      "resume lgpo 0",
      "new lgpo 1",
      "new grpo 1",
      "",
    ]);
    const done = await sweep([planFile]);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toEqual({ status: "completed", ran: 3, skipped: 0 });
    const again = await sweep([planFile]);
    expect(JSON.parse(again.stdout)).toEqual({ status: "completed", ran: 0, skipped: 3 });
    // The resumed run equals one run without interruption.
    const whole = await runCli(
      [
        "train",
        "--config",
        join(tmp, "lgpo.yaml"),
        "--set",
        "trainer.optimizer.lr=0.01",
        "--set",
        "seed=0",
        "--run-dir",
        join(tmp, "whole"),
      ],
      { timeoutMs: 120_000, cwd: tmp },
    );
    expect(whole.code, whole.stderr).toBe(0);
    expect(untimed(join(tmp, "runs/lgpo/seed-0"))).toEqual(untimed(join(tmp, "whole")));
    // Seeds differ, and the grpo arm took its own settings.
    expect(untimed(join(tmp, "runs/lgpo/seed-1"))).not.toEqual(untimed(join(tmp, "runs/lgpo/seed-0")));
    const grpo = YAML.parse(readFileSync(join(tmp, "runs/grpo/seed-1/config.yaml"), "utf8"));
    expect([grpo.seed, grpo.trainer.n_updates, grpo.trainer.optimizer.lr, grpo.objective.name]).toEqual([
      1,
      1,
      0.01,
      "grpo",
    ]);
    for (const run of ["lgpo/seed-0", "lgpo/seed-1", "grpo/seed-1"]) {
      expect(readdirSync(join(tmp, "results", run)).sort()).toEqual(["config.yaml", "metrics.jsonl", "summary.json"]);
      expect(readFileSync(join(tmp, "results", run, "metrics.jsonl"), "utf8")).toBe(
        readFileSync(join(tmp, "runs", run, "metrics.jsonl"), "utf8"),
      );
    }
    // A fresh clone has the committed results but no run directories: those runs count as done,
    // unless the plan now asks another config of them.
    rmSync(join(tmp, "runs"), { recursive: true, force: true });
    writeFileSync(
      join(tmp, "results/grpo/seed-1/config.yaml"),
      readFileSync(join(tmp, "results/grpo/seed-1/config.yaml"), "utf8").replace("n_updates: 1", "n_updates: 2"),
    );
    // Results committed from another checkout name the model below that checkout's root: the same
    // model there still counts, another one does not.
    const moveModel = (run: string, to: string) => {
      const file = join(tmp, "results", run, "config.yaml");
      const text = readFileSync(file, "utf8");
      expect(text).toMatch(/^model:\n {2}path: /);
      writeFileSync(file, text.replace(/^(model:\n {2}path: ).*$/m, `$1${to}`));
    };
    moveModel("lgpo/seed-1", join("/elsewhere/clone", basename(model)));
    const fresh = await sweep([planFile, "--list"]);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout.split("\n").map((l) => l.split("\t").slice(0, 3).join(" "))).toEqual([
      "kept lgpo 0",
      "kept lgpo 1",
      "new grpo 1",
      "",
    ]);
    moveModel("lgpo/seed-1", "/elsewhere/clone/another-model");
    const other = await sweep([planFile, "--list"]);
    expect(other.stdout.split("\n").map((l) => l.split("\t").slice(0, 3).join(" "))).toEqual([
      "kept lgpo 0",
      "new lgpo 1",
      "new grpo 1",
      "",
    ]);
  });
});

describe("lgpo-run sweep on Ctrl-C", () => {
  it("stops the running train at a checkpoint and exits 130; the next call resumes it", async () => {
    const plan = join(tmp, "long.yaml");
    writeFileSync(
      plan,
      YAML.stringify({ name: "long", out: "./long-runs", arms: { lgpo: "lgpo.yaml" }, set: ["trainer.steps=400"] }),
    );
    // Its own process group, as a terminal's: Ctrl-C reaches the sweep and its train alike.
    const child = spawn(process.execPath, [LGPO_RUN, "sweep", plan], {
      cwd: tmp,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const started = join(tmp, "long-runs/lgpo/seed-0/metrics.jsonl");
    while (!existsSync(started) || readFileSync(started, "utf8").split("\n").length < 3) {
      await new Promise((r) => setTimeout(r, 100));
    }
    process.kill(-child.pid!, "SIGINT");
    const code = await new Promise((r) => child.on("exit", (c) => r(c)));
    expect(code, stderr).toBe(130);
    expect(stderr).toMatch(/stopped during lgpo seed 0; run it again to continue/);
    const list = await sweep([plan, "--list"]);
    expect(list.stdout).toMatch(/^resume\tlgpo\t0\t/);
  }, 120_000);
});

describe("the reproduction plans (experiments/paper)", () => {
  it("start every arm (--quick: 2 steps, first seed, no eval)", async () => {
    const plans = readdirSync(join(REPO_ROOT, "experiments/paper")).filter((f) => f.endsWith(".yaml"));
    expect(plans.length).toBeGreaterThanOrEqual(5);
    const out = join(tmp, "paper");
    // The second setting's base is built, not shipped (configs/sft4/base.yaml): where it is absent
    // (a fresh clone), its arms start from the shipped model, which still tests the plan's wiring.
    const sft4 = join(REPO_ROOT, ".cache/bases/countdown-tiny-sft4");
    const shipped = ["--set", `model.path=${join(REPO_ROOT, "models/countdown-tiny")}`];
    for (const plan of plans) {
      const base = plan === "setting-sft4.yaml" && !existsSync(sft4) ? shipped : [];
      const r = await sweep([join(REPO_ROOT, "experiments/paper", plan), "--quick", "--out", out, ...base]);
      expect(r.code, `${plan}: ${r.stderr.slice(-2000)}`).toBe(0);
    }
    for (const arm of readdirSync(`${out}-quick`)) {
      const lines = readJsonlObjects(join(`${out}-quick`, arm, "seed-0/metrics.jsonl")).filter((l) => "loss" in l);
      expect(
        lines.map((l) => l.step),
        arm,
      ).toEqual([1, 2]);
      expect(
        lines.every((l) => Number.isFinite(l.loss as number)),
        arm,
      ).toBe(true);
    }
    expect(existsSync(join(REPO_ROOT, "runs/paper-quick"))).toBe(false);
  }, 900_000);
});
