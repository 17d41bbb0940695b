/**
 * The TypeScript-side costs of one RL step (`npm run bench`, vitest bench): scoring a rollout
 * batch with the Countdown verifier and with the math verifier (its worker pool), group-relative
 * advantages, choosing LGPO's τ (each gate mode, with forced-token marks on the shipped model's
 * tokenizer), and loading a dataset into tasks. Batches are 1,024 responses (B = 128, G = 8, the
 * paper's Countdown step). Math reads ../shared/data/math500 (or $LGPO_DATA_DIR) and is skipped
 * without it.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, bench, describe } from "vitest";

import { generatedCountdownTask, type GeneratorRanges } from "../../ts/src/data/prompt_stream.js";
import { loadDatasetTasks } from "../../ts/src/data/load.js";
import { countdownReward, mathReward } from "../../ts/src/rewards/builtin.js";
import { groupAdvantages } from "../../ts/src/rollout/advantages.js";
import { GateThreshold } from "../../ts/src/sdk/gate_threshold.js";
import { Tokenizer } from "../../ts/src/sdk/tokenizer.js";
import { stepGate } from "../../ts/src/trainer/step_gate.js";
import type { TrainSequence } from "../../ts/src/trainer/updates.js";
import { mulberry32 } from "../../ts/src/util/random.js";

const BATCH = 1024;
const DATA = process.env.LGPO_DATA_DIR ?? resolve(import.meta.dirname, "../../../shared/data");
const MATH500 = join(DATA, "math500/test.jsonl");
const RANGES: GeneratorRanges = { min_nums: 3, max_nums: 4, max_number: 99, min_target: 10, max_target: 99 };

/** Countdown responses: a quarter correct, a quarter wrong, a quarter malformed, a quarter without an answer. */
const countdownInputs = Array.from({ length: BATCH }, (_, i) => {
  const task = generatedCountdownTask(`bench:${i}`, RANGES);
  const [a, b] = task.nums as [number, number];
  const response = [
    `<think>try</think><answer>${a} + ${b}</answer>`,
    `<think>${a} * ${b}</answer>`,
    `<answer>${task.nums.join(" - ")}</answer>`,
    "I do not know.",
  ][i % 4]!;
  return { response, reference: { target: task.target, nums: task.nums } };
});

const countdown = countdownReward();
const math = mathReward();
afterAll(async () => {
  await math.close();
});

describe("reward scoring, 1,024 responses", () => {
  bench("countdown verifier", async () => {
    await countdown.score(countdownInputs);
  });

  const mathTasks = existsSync(MATH500) ? loadDatasetTasks(MATH500, "math") : undefined;
  bench.skipIf(mathTasks === undefined)("math verifier (worker pool)", async () => {
    const { tasks } = await mathTasks!;
    const inputs = Array.from({ length: BATCH }, (_, i) => {
      const t = tasks[i % tasks.length]!;
      const answer = t.kind === "math" ? t.answer : "";
      return { response: `The answer is \\boxed{${i % 2 ? answer : `${answer}+1`}}.`, reference: { answer } };
    });
    await math.score(inputs);
  });
});

describe("advantages", () => {
  const random = mulberry32(0);
  const rewards = Array.from({ length: BATCH }, () => (random() < 0.3 ? 1 : 0));
  bench("group-relative advantages, B = 128, G = 8", () => {
    groupAdvantages(rewards, 8, "group_std", 1e-6);
  });
});

describe("LGPO's tau for a step, 1,024 sequences of 34 tokens", () => {
  const tokenizer = Tokenizer.fromDir(resolve(import.meta.dirname, "../../models/countdown-tiny"));
  const random = mulberry32(1);
  const ids = tokenizer.encode(" 2 * 5 = 10, 10 + 6 = 16</think>\n<answer>2 * 5 + 6</answer>");
  const sequences: TrainSequence[] = Array.from({ length: BATCH }, () => ({
    promptIds: [],
    responseIds: ids,
    advantage: 0,
    samplingLogprobs: ids.map(() => -random() * 0.3),
  }));
  for (const [name, gate] of [
    ["fixed", { tau: -0.05 }],
    ["quantile", { mode: "quantile" as const, q: 0.9 }],
    ["target", { mode: "target" as const, target: 0.1 }],
    ["quantile + forced tokens", { mode: "quantile" as const, q: 0.9, exclude_forced: true }],
  ] as const) {
    const threshold = new GateThreshold(gate);
    bench(name, () => {
      const chosen = stepGate(threshold, "countdown", tokenizer, sequences);
      threshold.observe(chosen.means, chosen.tau);
    });
  }
});

describe("data loading", () => {
  bench.skipIf(!existsSync(MATH500))("math500 (500 problems, JSONL) into tasks", async () => {
    await loadDatasetTasks(MATH500, "math");
  });
  // The trainer's Countdown generator solves each draw to keep only solvable tasks: tens of ms a
  // task at the default ranges, on the JS thread before generation starts (in no time/* phase).
  bench(
    "16 generated Countdown tasks (default ranges)",
    () => {
      for (let i = 0; i < 16; i++) generatedCountdownTask(`bench:data:${i}`, RANGES);
    },
    { iterations: 5, time: 0 },
  );
});
