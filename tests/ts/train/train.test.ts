/**
 * The trainer end to end through the SDK on a tiny random checkpoint: the run directory's files,
 * lgpo vs grpo, exact resume, rewards that fail, non-finite losses, dynamic sampling, KL to the
 * initial policy, and bad inputs.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ConfigError, resolveConfig } from "../../../ts/src/config/load.js";
import type { RunConfigInput } from "../../../ts/src/config/schema.js";
import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import { readEvents } from "../../../ts/src/logging/tensorboard.js";
import { defineReward } from "../../../ts/src/rewards/custom.js";
import { Policy } from "../../../ts/src/sdk/policy.js";
import { loadOptions, TrainingError } from "../../../ts/src/trainer/session.js";
import { train } from "../../../ts/src/trainer/train.js";
import { tinyByteModel } from "./tiny_model.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-train-"));
let model: string;
beforeAll(async () => {
  model = await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A deterministic reward with spread on a random model's output: parity of the first byte. */
const parity = defineReward("parity", ({ response }) => (response.length ? response.charCodeAt(0) % 2 : 0));

function config(over: Partial<Record<keyof RunConfigInput, unknown>> = {}) {
  const base = {
    model: { path: model },
    objective: { name: "lgpo", gate: { tau: -5.56 } },
    data: { task: "countdown" },
    rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 12 },
    trainer: { steps: 3, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 },
    logging: { progress: "none", samples_per_step: 8 },
    seed: 7,
  };
  return resolveConfig({ ...base, ...over });
}

let runs = 0;
const runDir = () => join(tmp, `run-${runs++}`);

/** Metric lines without their timings, which differ between runs. */
function untimed(dir: string) {
  return readJsonlObjects(join(dir, "metrics.jsonl")).map((l) =>
    Object.fromEntries(Object.entries(l).filter(([k]) => k !== "time" && !k.startsWith("time/"))),
  );
}

const STEP_KEYS = [
  "step",
  "reward/mean",
  "reward/success_frac",
  "response_length/mean",
  "gate/gated_frac",
  "gate/zero_adv_frac",
  "clip/frac_low",
  "clip/frac_high",
  "grad_norm",
  "lr",
  "time/generate_s",
  "time/reward_s",
  "time/old_logprob_s",
  "time/update_s",
  "time/step_s",
];

describe("train", () => {
  it("runs lgpo and writes a well-formed run directory", async () => {
    const dir = runDir();
    const steps: Record<string, number>[] = [];
    const evals: Record<string, number>[] = [];
    const summary = await train(
      config({
        checkpoint: { every: 2, keep_last: 1 },
        eval: { benchmarks: [{ name: "cd", task: "countdown", limit: 3, samples: 2 }] },
      }),
      { runDir: dir, reward: parity, onStep: (m) => steps.push(m), onEval: (m) => evals.push(m) },
    );
    expect(summary).toMatchObject({ status: "completed", steps: 3, optimizerSteps: 6, runDir: dir });
    expect(steps.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(evals.map((m) => m.step)).toEqual([0, 3]);

    const lines = readJsonlObjects(join(dir, "metrics.jsonl"));
    expect(lines.map((l) => l.step)).toEqual([0, 1, 2, 3, 3]);
    const samples = readJsonlObjects(join(dir, "samples.jsonl"));
    for (const l of lines.filter((l) => "reward/mean" in l)) {
      for (const k of STEP_KEYS) expect(l, k).toHaveProperty(k);
      expect(l["time/old_logprob_s"]).toBe(0); // LGPO never computes old log-probs
      // The gated fraction is the share of the step's 8 sequences (all in samples.jsonl) gated,
      // and each gated one is above the fixed tau it logged.
      const mine = samples.filter((s) => s.step === l.step);
      expect(mine).toHaveLength(8);
      expect(l["gate/gated_frac"]).toBeCloseTo(mine.filter((s) => s.gated === true).length / 8, 12);
      expect(l["gate/tau"]).toBe(-5.56);
      expect(l["time/step_s"] as number).toBeGreaterThanOrEqual(
        (l["time/generate_s"] as number) + (l["time/update_s"] as number),
      );
    }
    expect(lines[0]).toHaveProperty("eval/cd/avg@2");
    expect(lines[0]).toHaveProperty("eval/cd/greedy");
    // Some sequences carry gradient and some are gated at this τ.
    expect(lines.some((l) => (l["gate/kept_nonzero_adv_frac"] as number) > 0)).toBe(true);
    expect(lines.some((l) => (l["gate/gated_frac"] as number) > 0)).toBe(true);

    expect(samples).toHaveLength(3 * 8);
    for (const s of samples) {
      expect(Object.keys(s).sort()).toEqual(
        [
          "advantage",
          "finish_reason",
          "gated",
          "mean_logprob",
          "prompt",
          "prompt_index",
          "response",
          "reward",
          "sample",
          "step",
        ].sort(),
      );
      expect(s.gated === null).toBe(s.advantage === 0); // zero-advantage sequences are never evaluated
      expect(s.prompt as string).toContain("create an equation that equals");
    }

    const events = readdirSync(dir).filter((f) => f.startsWith("events.out.tfevents."));
    expect(events).toHaveLength(1);
    const decoded = readEvents(join(dir, events[0]!));
    expect(decoded.filter((e) => "reward/mean" in e.scalars).map((e) => e.step)).toEqual([1, 2, 3]);
    expect(decoded.find((e) => e.step === 2 && "reward/mean" in e.scalars)!.scalars["reward/mean"]).toBe(
      Math.fround(lines[2]!["reward/mean"] as number),
    );

    expect(readdirSync(join(dir, "checkpoints")).sort()).toEqual(["latest", "step-3"]);
    expect(readFileSync(join(dir, "checkpoints/latest"), "utf8").trim()).toBe("step-3");
    const state = JSON.parse(readFileSync(join(dir, "checkpoints/step-3/trainer_state.json"), "utf8"));
    expect(state).toMatchObject({ step: 3, optimizerSteps: 6, seed: 7 });
    const saved = await Policy.load(join(dir, "checkpoints/step-3"));
    expect(saved.tokenizer?.encode("<|im_end|>")).toEqual([258]);
    saved.dispose();
    expect(resolveConfig(YAML.parse(readFileSync(join(dir, "config.yaml"), "utf8")))).toEqual(
      resolveConfig(
        config({
          checkpoint: { every: 2, keep_last: 1 },
          eval: { benchmarks: [{ name: "cd", task: "countdown", limit: 3, samples: 2 }] },
        }),
      ),
    );
    const written = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
    expect(written.eval.initial).toEqual(summary.eval.initial);
    expect(written.status).toBe("completed");
  });

  it("runs grpo with its old-log-prob pass, ratios and clip fractions", async () => {
    const dir = runDir();
    await train(config({ objective: { name: "grpo" } }), { runDir: dir, reward: parity });
    const lines = readJsonlObjects(join(dir, "metrics.jsonl")).filter((l) => "reward/mean" in l);
    expect(lines).toHaveLength(3);
    for (const l of lines) {
      expect(l["time/old_logprob_s"] as number).toBeGreaterThan(0);
      expect(l).toHaveProperty("ratio/mean");
      expect(l).toHaveProperty("kl/old_approx");
    }
    // The first minibatch is on-policy: its ratios are 1 (within float noise), so clipping starts later.
    expect(lines.some((l) => (l["ratio/max"] as number) > 1.0001 || (l["ratio/min"] as number) < 0.9999)).toBe(true);

    // skip_first: the first minibatch uses its own forward as old log-probs (exact): the run is the
    // same up to float noise in the ratios, and the old pass covers half the batch.
    const skip = runDir();
    await train(
      config({
        objective: { name: "grpo" },
        trainer: { steps: 3, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3, old_logprobs: "skip_first" },
      }),
      {
        runDir: skip,
        reward: parity,
      },
    );
    const skipped = readJsonlObjects(join(skip, "metrics.jsonl")).filter((l) => "reward/mean" in l);
    skipped.forEach((l, i) => {
      expect(l["reward/mean"]).toBe(lines[i]!["reward/mean"]);
      expect(l.loss as number).toBeCloseTo(lines[i]!.loss as number, 5);
      expect(l.grad_norm as number).toBeCloseTo(lines[i]!.grad_norm as number, 4);
    });
  });

  it("passes trainer.activation_checkpointing and model.dtype to the core: same run up to float noise", async () => {
    const trainer = { steps: 2, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 };
    const plain = runDir();
    await train(config({ trainer }), { runDir: plain, reward: parity });
    const checkpointed = runDir();
    await train(config({ trainer: { ...trainer, activation_checkpointing: true } }), {
      runDir: checkpointed,
      reward: parity,
    });
    const [a, b] = [plain, checkpointed].map((d) =>
      readJsonlObjects(join(d, "metrics.jsonl")).filter((l) => "reward/mean" in l),
    );
    expect(b).toHaveLength(2);
    b!.forEach((l, i) => {
      expect(l["reward/mean"]).toBe(a![i]!["reward/mean"]);
      expect(l.grad_norm as number).toBeCloseTo(a![i]!.grad_norm as number, 4);
    });
    expect(
      loadOptions(config({ trainer: { ...trainer, activation_checkpointing: true } }), 4, false).train,
    ).toMatchObject({ activation_checkpointing: true });
    expect(loadOptions(config({ model: { path: model, dtype: "bf16" } }), 4, false)).toMatchObject({ dtype: "bf16" });
    // The objective scores the distribution the rollouts were sampled from.
    const at = (temperature: number) =>
      loadOptions(
        config({ rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 12, temperature } }),
        4,
        false,
      ).train.logprob_temperature;
    // Greedy rollouts (0) pass through: the core scores them at 1 (crates/lgpo-core/tests/temperature.rs).
    expect([at(0.7), at(1), at(0)]).toEqual([0.7, 1, 0]);
    const sft = config({ rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 12, temperature: 0.7 } });
    expect(loadOptions(sft, 4, false, "sft").train.logprob_temperature).toBe(1);
  });
  it("resumes exactly: an interrupted run continued from its checkpoint equals an uninterrupted one", async () => {
    const whole = runDir();
    await train(config({ trainer: { steps: 4, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 } }), {
      runDir: whole,
      reward: parity,
    });
    const cut = runDir();
    const controller = new AbortController();
    const stopped = await train(
      config({ trainer: { steps: 4, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 } }),
      {
        runDir: cut,
        reward: parity,
        signal: controller.signal,
        onStep: (m) => {
          if (m.step === 2) controller.abort();
        },
      },
    );
    expect(stopped).toMatchObject({ status: "stopped", steps: 2 });
    expect(existsSync(join(cut, "checkpoints/step-2/trainer_state.json"))).toBe(true);
    const resumed = await train(
      config({ trainer: { steps: 4, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 } }),
      {
        runDir: cut,
        reward: parity,
        resume: true,
      },
    );
    expect(resumed).toMatchObject({ status: "completed", steps: 4, optimizerSteps: 8 });
    expect(untimed(cut)).toEqual(untimed(whole));
    expect(readJsonlObjects(join(cut, "samples.jsonl"))).toEqual(readJsonlObjects(join(whole, "samples.jsonl")));
    // More steps and other logging may change on resume; the learning rate only with `force`.
    const longer = { trainer: { steps: 5, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 } };
    const more = await train(config({ ...longer, logging: { progress: "none", samples_per_step: 2 } }), {
      runDir: cut,
      reward: parity,
      resume: true,
    });
    expect(more).toMatchObject({ status: "completed", steps: 5 });
    const other = config({ trainer: { steps: 6, n_updates: 2, optimizer: { lr: 0.5 }, micro_batch_size: 3 } });
    await expect(train(other, { runDir: cut, reward: parity, resume: true })).rejects.toThrow(
      /in trainer\.optimizer\.lr; a resume may change only trainer\.steps/,
    );
    const notes: string[] = [];
    const forced = await train(other, {
      runDir: cut,
      reward: parity,
      resume: true,
      force: true,
      log: (m) => notes.push(m),
    });
    expect(forced).toMatchObject({ status: "completed", steps: 6 });
    expect(notes.join("\n")).toMatch(/differs from the run's in trainer\.optimizer\.lr \(--force\)/);
  });

  it("takes a quantile gate's tau from the rollout's sampling log-probs, and the random gate follows it", async () => {
    for (const name of ["lgpo", "lgpo_random_gate"]) {
      const dir = runDir();
      const q = 0.75;
      const c = config({
        objective: { name, gate: { mode: "quantile", q } },
        logging: { progress: "none", samples_per_step: 8 },
      });
      const summary = await train(c, { runDir: dir, reward: parity });
      expect(summary.status).toBe("completed");
      const steps = untimed(dir).filter((l) => "reward/mean" in l);
      const samples = readJsonlObjects(join(dir, "samples.jsonl"));
      for (const line of steps) {
        // Recomputed here: numpy's linear quantile of the 8 mean log-probs the step logged.
        const means = samples.filter((s) => s.step === line.step).map((s) => s.mean_logprob as number);
        expect(means).toHaveLength(8);
        const sorted = [...means].sort((a, b) => a - b);
        const h = (sorted.length - 1) * q;
        const lo = Math.floor(h);
        const want = sorted[lo]! + (h - lo) * (sorted[lo + 1]! - sorted[lo]!);
        expect(line["gate/tau"]).toBeCloseTo(want, 12);
      }
      // With q = 0.75 the gate drops sequences in some step (2 of 8 are above tau at the first update).
      expect(steps.some((l) => (l["gate/gated_frac"] as number) > 0)).toBe(true);
    }
  });

  it("scores a reward that throws or times out as 0, counts it, and keeps training", async () => {
    const dir = runDir();
    const flaky = defineReward(
      "flaky",
      async ({ response }) => {
        const c = response.charCodeAt(0) % 3;
        if (c === 0) throw new Error("boom");
        if (c === 1) await new Promise((r) => setTimeout(r, 10_000));
        return 1;
      },
      { timeoutMs: 50 },
    );
    const summary = await train(
      config({ trainer: { steps: 2, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 } }),
      {
        runDir: dir,
        reward: flaky,
      },
    );
    expect(summary.status).toBe("completed");
    const lines = readJsonlObjects(join(dir, "metrics.jsonl"));
    const errors = lines.reduce((a, l) => a + (l["reward/errors"] as number), 0);
    const timeouts = lines.reduce((a, l) => a + (l["reward/timeouts"] as number), 0);
    expect(errors).toBeGreaterThan(0);
    expect(timeouts).toBeGreaterThan(0);
    expect(
      lines.every(
        (l) =>
          (l["reward/mean"] as number) <=
          1 - ((l["reward/errors"] as number) + (l["reward/timeouts"] as number)) / 8 + 1e-12,
      ),
    ).toBe(true);
  });

  it("skips optimizer steps with a non-finite loss, counts them, and stops after max_nonfinite_in_a_row", async () => {
    const dir = runDir();
    // Rewards of ±1e38 without std scaling: the token-mean loss overflows f32.
    const huge = defineReward("huge", ({ response }) => (response.charCodeAt(0) % 2 ? 1e38 : -1e38));
    const run = train(
      config({
        objective: { name: "pg" },
        rollout: { prompts_per_step: 2, group_size: 8, max_new_tokens: 12, advantage: { scale: "none" } },
        trainer: { steps: 5, n_updates: 2, max_nonfinite_in_a_row: 3 },
      }),
      { runDir: dir, reward: huge },
    );
    await expect(run).rejects.toThrow(TrainingError);
    await expect(run).rejects.toThrow(/4 optimizer steps in a row had a non-finite loss.*max_nonfinite_in_a_row = 3/);
    const lines = readJsonlObjects(join(dir, "metrics.jsonl")).filter((l) => "reward/mean" in l);
    const skipped = lines.map((l) => l["skipped/nonfinite"] as number);
    expect(skipped.every((k) => k >= 0 && k <= 2)).toBe(true);
    // It stopped at the first step that ended a run of 3 skipped steps (a finite minibatch, e.g.
    // one whose groups all have equal rewards, resets the count).
    expect(skipped.at(-1)).toBe(2);
    expect(skipped.at(-2)).toBeGreaterThanOrEqual(1);
    expect(lines.at(-1)!.optimizer_steps).toBe(2 * lines.length - skipped.reduce((a, b) => a + b, 0));
  });

  it("drops equal-reward groups with DAPO dynamic sampling and draws more prompts", async () => {
    const dir = runDir();
    // Odd targets: every sample scores 1 (no spread, dropped); even targets: parity of the first byte.
    const mixed = defineReward("mixed", ({ response, reference }) =>
      (reference.target as number) % 2 ? 1 : response.charCodeAt(0) % 2,
    );
    await train(
      config({
        objective: { name: "dapo" },
        rollout: {
          prompts_per_step: 2,
          group_size: 4,
          max_new_tokens: 12,
          dynamic_sampling: { enabled: true, max_extra_batches: 6 },
        },
        trainer: { steps: 3, n_updates: 1 },
      }),
      { runDir: dir, reward: mixed },
    );
    const lines = readJsonlObjects(join(dir, "metrics.jsonl")).filter((l) => "reward/mean" in l);
    expect(lines.some((l) => (l["dapo/dropped_groups"] as number) > 0)).toBe(true);
    expect(lines.some((l) => (l["dapo/extra_batches"] as number) > 0)).toBe(true);
    // The trained batch holds no zero-advantage sequence once the batch could be filled.
    const full = lines.filter((l) => (l["dapo/extra_batches"] as number) < 6);
    expect(full.length).toBeGreaterThan(0);
  });

  it("logs KL to the initial policy: 0 before the first update, positive after", async () => {
    const dir = runDir();
    await train(config({ trainer: { steps: 2, n_updates: 2, optimizer: { lr: 0.05 }, kl_to_initial_every: 1 } }), {
      runDir: dir,
      reward: parity,
    });
    const kl = readJsonlObjects(join(dir, "metrics.jsonl")).map((l) => l["kl/initial"] as number);
    expect(kl[0]).toBeLessThan(1e-6);
    expect(kl[0]).toBeGreaterThanOrEqual(0);
    expect(kl[1]).toBeGreaterThan(1e-4);
  });

  it("fails before writing anything on a bad model, dataset or run directory", async () => {
    const dir = runDir();
    await expect(train(config({ model: { path: join(tmp, "nowhere") } }), { runDir: dir })).rejects.toThrow(/nowhere/);
    await expect(
      train(config({ data: { task: "countdown", dataset: join(tmp, "missing.jsonl") } }), { runDir: dir }),
    ).rejects.toThrow(/missing\.jsonl.*no such file/);
    await expect(train(config({ trainer: { n_updates: 2 } }), { runDir: dir })).rejects.toThrow(
      /exactly one of trainer\.steps and trainer\.epochs/,
    );
    expect(existsSync(dir)).toBe(false);
    const taken = runDir();
    mkdirSync(taken);
    writeFileSync(join(taken, "metrics.jsonl"), "");
    await expect(train(config(), { runDir: taken })).rejects.toThrow(ConfigError);
    await expect(train(config(), { runDir: join(tmp, "never"), resume: true })).rejects.toThrow(
      /no complete checkpoint/,
    );
  });
});
