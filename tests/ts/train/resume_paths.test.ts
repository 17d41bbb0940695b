/**
 * Resume on every path a user takes: each run is stopped after step 2 (the abort path that
 * SIGINT and SIGTERM take; kill -9 is tested from the CLI), resumed from its checkpoint, and its
 * metrics (timings aside) must equal an uninterrupted run's line for line.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { resolveConfig } from "../../../ts/src/config/load.js";
import type { RunConfig } from "../../../ts/src/config/schema.js";
import { readJsonlObjects } from "../../../ts/src/logging/jsonl.js";
import { defineReward } from "../../../ts/src/rewards/custom.js";
import type { RunOptions, RunSummary } from "../../../ts/src/trainer/session.js";
import { sft } from "../../../ts/src/trainer/sft.js";
import { train } from "../../../ts/src/trainer/train.js";
import { tinyByteModel } from "./tiny_model.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-resume-paths-"));
let model: string;
let tasks: string;
let pairs: string;
beforeAll(async () => {
  model = await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 });
  tasks = join(tmp, "countdown.jsonl");
  // Three tasks, two prompts a step: the second step wraps the epoch and reshuffles.
  writeFileSync(
    tasks,
    [
      { target: 7, nums: [3, 4] },
      { target: 6, nums: [2, 3] },
      { target: 9, nums: [3, 3] },
    ]
      .map((t) => JSON.stringify(t))
      .join("\n"),
  );
  pairs = join(tmp, "pairs.jsonl");
  writeFileSync(
    pairs,
    ["2+3=|5", "7+1=|8", "4+4=|8", "9-2=|7", "1+1=|2"]
      .map((p) => JSON.stringify({ prompt: p.split("|")[0], response: p.split("|")[1] }))
      .join("\n"),
  );
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const parity = defineReward("parity", ({ response }) => (response.length ? response.charCodeAt(0) % 2 : 0));

function rlConfig(over: Record<string, unknown>): RunConfig {
  return resolveConfig({
    model: { path: model },
    objective: { name: "lgpo", gate: { tau: -5.56 } },
    data: { task: "countdown" },
    rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 10 },
    trainer: { steps: 4, n_updates: 2, optimizer: { lr: 0.02 }, micro_batch_size: 3 },
    checkpoint: { every: 0 },
    logging: { progress: "none", samples_per_step: 8 },
    seed: 3,
    ...over,
  });
}

const untimed = (dir: string) =>
  readJsonlObjects(join(dir, "metrics.jsonl")).map((l) =>
    Object.fromEntries(Object.entries(l).filter(([k]) => k !== "time" && !k.startsWith("time/"))),
  );

let runs = 0;

/** An uninterrupted run and one stopped after step 2 and resumed: their metrics must be equal. */
async function expectExactResume(
  run: (c: RunConfig, o: RunOptions) => Promise<RunSummary>,
  config: RunConfig,
  options: RunOptions = {},
): Promise<Record<string, unknown>[]> {
  const whole = join(tmp, `whole-${runs}`);
  const cut = join(tmp, `cut-${runs++}`);
  await run(config, { ...options, runDir: whole });
  const controller = new AbortController();
  const stopped = await run(config, {
    ...options,
    runDir: cut,
    signal: controller.signal,
    onStep: (m) => {
      if (m.step === 2) controller.abort();
    },
  });
  expect(stopped).toMatchObject({ status: "stopped", steps: 2 });
  const resumed = await run(config, { ...options, runDir: cut, resume: true });
  expect(resumed.status).toBe("completed");
  const lines = untimed(whole);
  expect(untimed(cut)).toEqual(lines);
  return lines;
}

const rl = (c: RunConfig, o: RunOptions) => train(c, { ...o, reward: parity });

describe("resume is exact", () => {
  it("with a cosine schedule and evals (the default's settings)", async () => {
    const lines = await expectExactResume(
      rl,
      rlConfig({
        trainer: {
          steps: 4,
          n_updates: 2,
          optimizer: { lr: 0.02 },
          schedule: { kind: "cosine", warmup_steps: 1, min_ratio: 0.1 },
        },
        eval: { every: 2, benchmarks: [{ name: "cd", task: "countdown", limit: 2, samples: 2 }] },
      }),
    );
    const lrs = lines.filter((l) => "lr" in l).map((l) => l.lr as number);
    expect(new Set(lrs).size).toBeGreaterThan(2); // the schedule moved across the cut
    expect(lines.filter((l) => "eval/cd/avg@2" in l).map((l) => l.step)).toEqual([0, 2, 4]);
  });

  it("across an epoch of a shuffled dataset", async () => {
    const lines = await expectExactResume(rl, rlConfig({ data: { task: "countdown", dataset: tasks, shuffle: true } }));
    expect(lines.filter((l) => "epoch" in l).map((l) => l.epoch)).toEqual([2 / 3, 4 / 3, 2, 8 / 3]);
  });

  it("for GRPO with recomputed old log-probs at N_updates 2", async () => {
    const lines = await expectExactResume(
      rl,
      rlConfig({ objective: { name: "grpo" }, trainer: { steps: 4, n_updates: 2, old_logprobs: "recompute" } }),
    );
    expect(lines.some((l) => "ratio/mean" in l)).toBe(true);
  });

  it("for the random gate", async () => {
    await expectExactResume(rl, rlConfig({ objective: { name: "lgpo_random_gate", gate: { tau: -5.56 } } }));
  });

  it("with DAPO's dynamic sampling", async () => {
    const lines = await expectExactResume(
      rl,
      rlConfig({
        objective: { name: "dapo" },
        rollout: { prompts_per_step: 2, group_size: 4, max_new_tokens: 10, dynamic_sampling: { enabled: true } },
      }),
    );
    expect(lines.some((l) => "dapo/extra_batches" in l)).toBe(true);
  });

  it("for SFT (metrics, not only step numbers)", async () => {
    const config = resolveConfig({
      model: { path: model },
      data: { task: "countdown", shuffle: true },
      sft: { dataset: pairs, batch_size: 2 },
      trainer: { steps: 4, optimizer: { lr: 0.01 } },
      checkpoint: { every: 0 },
      logging: { progress: "none" },
      seed: 5,
    });
    const lines = await expectExactResume((c, o) => sft(c, o), config);
    const losses = lines.filter((l) => "loss" in l).map((l) => l.loss);
    expect(losses).toHaveLength(4);
    expect(new Set(losses).size).toBe(4);
  });
});
