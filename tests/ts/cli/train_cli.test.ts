/**
 * `lgpo-run train` and `lgpo-run eval` in a child process: the minimal config with lgpo and
 * grpo, --dry-run and config errors (exit 2), SIGINT and resume, a second signal, and kill -9 in
 * the middle of a checkpoint write (on every path: schedule + eval, shuffled epochs, GRPO recompute,
 * random gate, DAPO dynamic sampling, SFT).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import { readEvents } from "../../../ts/src/logging/tensorboard.js";
import { tinyByteModel } from "../train/tiny_model.js";
import { LGPO_RUN as BIN, runCli } from "../cli_runner.js";
import { REPO_ROOT } from "../data_files.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-train-cli-"));
let model: string;
let reward: string;

beforeAll(async () => {
  model = await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 });
  reward = join(tmp, "parity.mjs");
  writeFileSync(reward, "export default ({ response }) => (response.length ? response.charCodeAt(0) % 2 : 0);\n");
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, { timeoutMs: 240_000, env });

/** The minimal config, plus a reward with spread for a random model. */
function yamlConfig(name: string, objective: string, extra: Record<string, unknown> = {}): string {
  const path = join(tmp, name);
  writeFileSync(
    path,
    YAML.stringify({
      model: { path: model },
      objective: { name: objective },
      data: { task: "countdown" },
      rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 16 },
      trainer: { steps: 2, n_updates: 2 },
      reward: { function: reward },
      ...extra,
    }),
  );
  return path;
}

/** Every (step, tag) of a run's TensorBoard scalars, over all its event files, sorted. */
function scalarSteps(dir: string): string[] {
  const files = readdirSync(dir).filter((n) => n.startsWith("events.out.tfevents."));
  return files
    .flatMap((f) => readEvents(join(dir, f)))
    .flatMap((e) =>
      Object.keys(e.scalars)
        .filter((k) => !k.startsWith("time"))
        .map((k) => `${e.step} ${k}`),
    )
    .sort();
}

function untimed(dir: string) {
  return readJsonlObjects(join(dir, "metrics.jsonl")).map((l) =>
    Object.fromEntries(Object.entries(l).filter(([k]) => k !== "time" && !k.startsWith("time/"))),
  );
}

describe("lgpo-run train", () => {
  it("trains the issue's minimal config with lgpo and with grpo", async () => {
    for (const objective of ["lgpo", "grpo"]) {
      const dir = join(tmp, `minimal-${objective}`);
      const r = await run(["train", "--config", yamlConfig(`${objective}.yaml`, objective), "--run-dir", dir]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/completed 2 steps/);
      expect(r.stderr).toMatch(/step 2\/2 +reward/); // plain lines when stderr is not a terminal
      expect(readdirSync(dir).sort()).toEqual(
        expect.arrayContaining(["checkpoints", "config.yaml", "metrics.jsonl", "samples.jsonl", "summary.json"]),
      );
      const lines = readJsonlObjects(join(dir, "metrics.jsonl"));
      expect(lines.map((l) => l.step)).toEqual([1, 2]);
      expect((lines[0]!["time/old_logprob_s"] as number) > 0).toBe(objective === "grpo");
      expect(existsSync(join(dir, "checkpoints/step-2/model.safetensors"))).toBe(true);
    }
  });

  it("prints the resolved config with --dry-run, and rejects bad configs with exit 2 before any work", async () => {
    const ok = await run([
      "train",
      "--config",
      yamlConfig("dry.yaml", "lgpo"),
      "--set",
      "trainer.optimizer.lr=3e-6",
      "--dry-run",
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    const resolved = YAML.parse(ok.stdout);
    expect(resolved.trainer.optimizer.lr).toBe(3e-6);
    expect(resolved.rollout.temperature).toBe(1);
    const dir = join(tmp, "never");
    const cases: [string[], RegExp][] = [
      [["--set", "trainer.frobnicate=1"], /unknown key `trainer\.frobnicate`/],
      [["--set", "rollout.group_size=eight"], /`rollout\.group_size` must be a number, got the string "eight"/],
      [["--set", "trainer.minibatch_size=4"], /minibatch_size \(4\) exceeds rollout\.prompts_per_step \(2\)/],
      [["--set", "objective.clip.low=0.2"], /objective: .*remove `clip`/],
      [["--set", "model.path=" + join(tmp, "nope")], /nope/],
    ];
    for (const [args, message] of cases) {
      const r = await run(["train", "--config", yamlConfig("dry.yaml", "lgpo"), "--run-dir", dir, ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(message);
    }
    expect(existsSync(dir)).toBe(false);
    const help = await run(["train", "--help"]);
    expect(help.stdout).toMatch(/objective\.gate\.tau/);
    expect(help.stdout).toMatch(/rollout\.group_size +integer >= 1 \[8\]/);
  });

  it("stops on SIGINT after the current step with a checkpoint, exits 0, and resumes to the uninterrupted result", async () => {
    const config = yamlConfig("sig.yaml", "lgpo", { trainer: { steps: 4, n_updates: 2 } });
    const whole = join(tmp, "sig-whole");
    expect((await run(["train", "--config", config, "--run-dir", whole])).code).toBe(0);

    const cut = join(tmp, "sig-cut");
    const child = spawn(process.execPath, [BIN, "train", "--config", config, "--run-dir", cut], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const { code, stderr } = await interruptAfterFirstStep(child, 1);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(/SIGINT: finishing the current step/);
    const summary = JSON.parse(readFileSync(join(cut, "summary.json"), "utf8"));
    expect(summary.status).toBe("stopped");
    expect(existsSync(join(cut, `checkpoints/step-${summary.steps}/trainer_state.json`))).toBe(true);
    expect(summary.steps).toBeLessThan(4);

    const resumed = await run(["train", "--resume", cut]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming/);
    expect(untimed(cut)).toEqual(untimed(whole));
  });

  it("exits at once on a second signal", async () => {
    const config = yamlConfig("sig2.yaml", "lgpo", { trainer: { steps: 50, n_updates: 2 } });
    const child = spawn(process.execPath, [BIN, "train", "--config", config, "--run-dir", join(tmp, "sig2")], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const { code, stderr } = await interruptAfterFirstStep(child, 2);
    expect(stderr).toMatch(/second SIGINT, exiting now/);
    expect(code).toBe(130);
  });

  it("keeps the previous checkpoint loadable when killed (-9) in the middle of writing one, and resumes from it", async () => {
    const config = yamlConfig("crash.yaml", "lgpo", { trainer: { steps: 4, n_updates: 2 }, checkpoint: { every: 2 } });
    const whole = join(tmp, "crash-whole");
    expect((await run(["train", "--config", config, "--run-dir", whole])).code).toBe(0);
    const dir = join(tmp, "crash");
    const crashed = await run(["train", "--config", config, "--run-dir", dir], { LGPO_FAULT: "checkpoint-write@4" });
    expect(crashed.signal).toBe("SIGKILL");
    expect(readFileSync(join(dir, "checkpoints/latest"), "utf8").trim()).toBe("step-2");
    expect(readdirSync(join(dir, "checkpoints")).some((n) => n.startsWith(".step-4"))).toBe(true); // the torn write
    // A resume that would compute something else is refused, naming the key, before any work.
    const changed = await run([
      "train",
      "--resume",
      dir,
      "--set",
      "trainer.optimizer.lr=0.5",
      "--set",
      "trainer.steps=5",
    ]);
    expect(changed.code, changed.stderr).toBe(2);
    expect(changed.stderr).toMatch(/differs from the run's .* in trainer\.optimizer\.lr; .*--force/);
    const resumed = await run(["train", "--resume", dir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/from .*step-2 \(step 2\)/);
    expect(readdirSync(join(dir, "checkpoints")).filter((n) => n.startsWith("."))).toEqual([]);
    expect(untimed(dir)).toEqual(untimed(whole));
    // TensorBoard was cut back to the checkpoint as metrics.jsonl was: steps 3 and 4, logged
    // before the crash, appear once, across the two event files.
    expect(scalarSteps(dir)).toEqual(scalarSteps(whole));
  });
});

describe("lgpo-run train resumes exactly after kill -9 on every path", () => {
  // The in-process stop (SIGINT/SIGTERM's path) is tested per path in train/resume_paths.test.ts;
  // here the process dies in the middle of the step-4 checkpoint and resumes from step 2.
  const tasks = () => {
    const path = join(tmp, "three-tasks.jsonl");
    writeFileSync(path, '{"target":7,"nums":[3,4]}\n{"target":6,"nums":[2,3]}\n{"target":9,"nums":[3,3]}\n');
    return path;
  };
  const paths: [string, string, () => Record<string, unknown>][] = [
    [
      "cosine schedule and evals",
      "lgpo",
      () => ({
        trainer: { steps: 6, n_updates: 2, schedule: { kind: "cosine", warmup_steps: 1 } },
        eval: { every: 2, benchmarks: [{ name: "cd", task: "countdown", limit: 2, samples: 2 }] },
      }),
    ],
    [
      "a shuffled dataset across epochs",
      "lgpo",
      () => ({ data: { task: "countdown", dataset: tasks(), shuffle: true } }),
    ],
    [
      "GRPO, recomputed old log-probs",
      "grpo",
      () => ({ trainer: { steps: 6, n_updates: 2, old_logprobs: "recompute" } }),
    ],
    ["the random gate", "lgpo_random_gate", () => ({})],
    [
      "DAPO's dynamic sampling",
      "dapo",
      () => ({
        rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 16, dynamic_sampling: { enabled: true } },
      }),
    ],
  ];
  for (const [label, objective, extra] of paths) {
    it(label, async () => {
      const config = yamlConfig(`kill-${objective}-${label.length}.yaml`, objective, {
        trainer: { steps: 6, n_updates: 2 },
        checkpoint: { every: 2 },
        ...extra(),
      });
      const whole = join(tmp, `kill-${label.length}-whole`);
      const w = await run(["train", "--config", config, "--run-dir", whole]);
      expect(w.code, w.stderr).toBe(0);
      const dir = join(tmp, `kill-${label.length}`);
      const crashed = await run(["train", "--config", config, "--run-dir", dir], { LGPO_FAULT: "checkpoint-write@4" });
      expect(crashed.signal).toBe("SIGKILL");
      const resumed = await run(["train", "--resume", dir]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toMatch(/from .*step-2 \(step 2\)/);
      expect(untimed(dir)).toEqual(untimed(whole));
      expect(untimed(whole).filter((l) => "loss" in l)).toHaveLength(6);
    });
  }

  it("SFT", async () => {
    const pairs = join(tmp, "kill-pairs.jsonl");
    writeFileSync(
      pairs,
      ["2+3=|5", "7+1=|8", "4+4=|8", "9-2=|7", "1+1=|2"]
        .map((p) => JSON.stringify({ prompt: p.split("|")[0], response: p.split("|")[1] }))
        .join("\n"),
    );
    const config = join(tmp, "kill-sft.yaml");
    writeFileSync(
      config,
      YAML.stringify({
        model: { path: model },
        data: { task: "countdown", shuffle: true },
        sft: { dataset: pairs, batch_size: 2 },
        trainer: { steps: 6, optimizer: { lr: 0.01 } },
        checkpoint: { every: 2 },
      }),
    );
    const whole = join(tmp, "kill-sft-whole");
    expect((await run(["sft", "--config", config, "--run-dir", whole])).code).toBe(0);
    const dir = join(tmp, "kill-sft");
    const crashed = await run(["sft", "--config", config, "--run-dir", dir], { LGPO_FAULT: "checkpoint-write@4" });
    expect(crashed.signal).toBe("SIGKILL");
    const resumed = await run(["sft", "--resume", dir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const losses = untimed(whole).filter((l) => "loss" in l);
    expect(new Set(losses.map((l) => l.loss)).size).toBe(6);
    expect(untimed(dir)).toEqual(untimed(whole));
  });
});

describe("lgpo-run train with an adaptive gate", () => {
  for (const gate of [
    { mode: "quantile", q: 0.5 },
    { mode: "target", tau: -5, target: 0.3, rate: 0.5, tau_min: -20, exclude_forced: true },
  ]) {
    it(`logs the tau it used and resumes exactly after kill -9 (${gate.mode})`, async () => {
      const config = yamlConfig(`gate-${gate.mode}.yaml`, "lgpo", {
        objective: { name: "lgpo", gate },
        trainer: { steps: 6, n_updates: 2 },
        checkpoint: { every: 2 },
      });
      const whole = join(tmp, `gate-${gate.mode}-whole`);
      const w = await run(["train", "--config", config, "--run-dir", whole]);
      expect(w.code, w.stderr).toBe(0);
      const lines = untimed(whole).filter((l) => "reward/mean" in l);
      const taus = lines.map((l) => l["gate/tau"] as number);
      expect(taus).toHaveLength(6);
      expect(taus.every((t) => t < 0)).toBe(true);
      // Each mode moves tau: the quantile follows the batch, the controller its error.
      expect(new Set(taus).size).toBeGreaterThan(1);
      expect(lines.some((l) => (l["gate/gated_frac"] as number) > 0)).toBe(true);
      const state = JSON.parse(readFileSync(join(whole, "checkpoints/step-6/trainer_state.json"), "utf8"));
      // The controller's next tau is one update from the last: |log ratio| <= rate.
      if (gate.mode === "target") expect(Math.abs(Math.log(state.gateTau / taus[5]!))).toBeLessThanOrEqual(0.5 + 1e-12);
      else expect(state.gateTau).toBeNull();
      const dir = join(tmp, `gate-${gate.mode}`);
      const crashed = await run(["train", "--config", config, "--run-dir", dir], { LGPO_FAULT: "checkpoint-write@4" });
      expect(crashed.signal).toBe("SIGKILL");
      const resumed = await run(["train", "--resume", dir]);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(untimed(dir)).toEqual(untimed(whole));
    });
  }

  it("refuses bad gate settings with exit 2, naming the field", async () => {
    for (const [set, message] of [
      ["objective.gate={mode: quantile, q: 1.5}", /`objective\.gate\.q` must be <1/],
      ["objective.gate={mode: target, target: 0}", /`objective\.gate\.target` must be >0/],
      ["objective.gate={mode: sometimes}", /`objective\.gate\.mode` must be one of/],
    ] as const) {
      const r = await run(["train", "--config", yamlConfig("bad-gate.yaml", "lgpo"), "--set", set, "--dry-run"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
    }
    const grpo = await run([
      "train",
      "--config",
      yamlConfig("grpo-gate.yaml", "grpo"),
      "--set",
      "objective.gate={mode: quantile}",
      "--dry-run",
    ]);
    expect(grpo.code).toBe(2);
    expect(grpo.stderr).toMatch(/`grpo` has no likelihood gate: remove `gate`/);
  });
});

describe("lgpo-run bad inputs", () => {
  const tinyNoChat = join(REPO_ROOT, "models/countdown-tiny");

  it("exits 2 and writes nothing when the prompt template needs a chat template the model lacks", async () => {
    const dir = join(tmp, "no-chat");
    const config = yamlConfig("no-chat.yaml", "lgpo", {
      model: { path: tinyNoChat },
      data: { task: "countdown", prompt: { template: "chat" } },
    });
    const r = await run(["train", "--config", config, "--run-dir", dir]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/data\.prompt\.template `chat` needs a chat template/);
    expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
    const g = await run(["generate", "--model", tinyNoChat, "--prompt", "hi", "--chat", "--max-tokens", "2"]);
    expect(g.code, g.stderr).toBe(2);
    expect(g.stderr).toMatch(/--chat: .*has no chat template/);
  });

  it("exits 2 on --resume of a directory that holds no run", async () => {
    const r = await run(["train", "--resume", tmp]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/is not a run directory: it has no config\.yaml/);
  });
});

describe("lgpo-run eval", () => {
  it("prints one JSON object with the accuracy of a checkpoint", async () => {
    const r = await run(["eval", "--model", model, "--task", "countdown", "--n", "4", "--greedy", "--max-tokens", "8"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ task: "countdown", accuracy: 0 });
    expect(out.benchmarks.countdown).toEqual({ problems: 4, greedy: 0 });
    const both = JSON.parse(
      (
        await run([
          "eval",
          "--model",
          model,
          "--task",
          "countdown",
          "--n",
          "2",
          "--samples",
          "2",
          "--greedy",
          "--max-tokens",
          "4",
        ])
      ).stdout,
    );
    expect(Object.keys(both.benchmarks.countdown).sort()).toEqual(["avgAtK", "greedy", "k", "problems"]);
    const bad = await run(["eval", "--model", model, "--task", "math"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--dataset is required/);
  });
});

/** Sends SIGINT `times` times once the child has printed its first step line; resolves with its exit. */
function interruptAfterFirstStep(child: ChildProcess, times: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    let stderr = "";
    let sent = false;
    let second = false;
    child.stderr!.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!sent && /step 1\/\d+/.test(stderr)) {
        sent = true;
        child.kill("SIGINT");
      }
      // The second signal once the first was handled (signals of one kind sent together may merge).
      if (times > 1 && !second && /finishing the current step/.test(stderr)) {
        second = true;
        child.kill("SIGINT");
      }
    });
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}
