/**
 * Synthetic run directories as `lgpo-run train` writes them (docs/run-directory.md): config.yaml,
 * metrics.jsonl with training and eval lines, samples.jsonl, summary.json. Curves look like the
 * paper's (reward rising, entropy falling; GRPO with clip fractions and an old-log-prob pass,
 * LGPO with a gate and none), with the file's awkward cases: sparse keys, `null` values, eval
 * lines sharing a step with training lines.
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

import { mulberry32 } from "../../../ts/src/util/random.js";

export interface SyntheticRunOptions {
  objective?: "lgpo" | "grpo";
  seed?: number;
  steps?: number;
  evalEvery?: number;
  samplesEvery?: number;
  /** Every how many steps kl/initial is logged (sparse key); 0 = never. */
  klEvery?: number;
  /** Steps whose grad_norm is written as null (a skipped, non-finite step). */
  nullGradSteps?: number[];
  /** Config values that override the defaults (dotted keys not supported: nested objects). */
  config?: Record<string, unknown>;
  /** Unix time of step 0. */
  startTime?: number;
}

/** The training line of `step`. */
export function trainingLine(step: number, o: Required<SyntheticRunOptions>, rand: () => number, time: number) {
  const progress = step / Math.max(o.steps, 1);
  const lgpo = o.objective === "lgpo";
  const reward = Math.min(1, Math.max(0, 0.15 + (lgpo ? 0.6 : 0.5) * progress + 0.08 * (rand() - 0.5)));
  const generate = 20 + 4 * rand();
  const old = lgpo ? 0 : 6 + rand();
  const update = 12 + 2 * rand();
  const line: Record<string, number | null> = {
    step,
    time,
    epoch: step / 50,
    "reward/mean": reward,
    "reward/std": 0.3 + 0.1 * rand(),
    "reward/success_frac": Math.max(0, reward - 0.05 * rand()),
    "reward/errors": 0,
    "reward/timeouts": 0,
    "response_length/mean": 180 - 60 * progress + 10 * rand(),
    "response_length/max": 256,
    "response_length/clip_frac": 0.05 * rand(),
    "entropy/mean": (lgpo ? 0.9 : 0.6) * Math.exp(-2 * progress) + 0.1 + 0.02 * rand(),
    "advantage/mean": 0,
    "advantage/abs_mean": 0.7 + 0.1 * rand(),
    "gate/gated_frac": lgpo ? 0.02 + 0.1 * progress * rand() : 0,
    "gate/zero_adv_frac": 0.3 + 0.2 * progress + 0.05 * rand(),
    "gate/kept_nonzero_adv_frac": 0.6 - 0.2 * progress + 0.05 * rand(),
    loss: 0.1 * (rand() - 0.5),
    "logprob/mean": -0.4 + 0.2 * progress,
    grad_norm: o.nullGradSteps.includes(step) ? null : 0.5 + rand(),
    lr: 1e-6 * Math.min(1, step / 10),
    optimizer_steps: step * 4,
    "skipped/nonfinite": o.nullGradSteps.includes(step) ? 1 : 0,
    "time/generate_s": generate,
    "time/reward_s": 0.5 * rand(),
    "time/old_logprob_s": old,
    "time/update_s": update,
    "time/step_s": generate + old + update + 1,
  };
  if (!lgpo) {
    line["clip/frac_low"] = 0.01 * rand();
    line["clip/frac_high"] = 0.02 * rand();
    line["ratio/mean"] = 1 + 0.01 * (rand() - 0.5);
    line["kl/old_approx"] = 0.001 * rand();
  }
  if (o.klEvery > 0 && step % o.klEvery === 0) line["kl/initial"] = 0.002 * step * (lgpo ? 0.5 : 1);
  return line;
}

/** The eval line of `step`. */
export function evalLine(step: number, o: Required<SyntheticRunOptions>, rand: () => number, time: number) {
  const progress = step / Math.max(o.steps, 1);
  const gain = o.objective === "lgpo" ? 0.5 : 0.4;
  return {
    step,
    time,
    "eval/countdown/avg@8": 0.1 + gain * progress + 0.02 * rand(),
    "eval/countdown/greedy": 0.12 + gain * progress + 0.02 * rand(),
    "eval/math500/avg@8": 0.3 + 0.5 * gain * progress + 0.02 * rand(),
  };
}

/** The resolved config of the run, as the trainer would write it. */
export function syntheticConfig(dir: string, o: Required<SyntheticRunOptions>): Record<string, unknown> {
  return {
    seed: o.seed,
    model: { path: "Qwen/Qwen2.5-0.5B-Instruct", dtype: "bf16" },
    objective: o.objective === "lgpo" ? { name: "lgpo", tau: -0.15 } : { name: "grpo", clip_low: 0.2, clip_high: 0.2 },
    rollout: { prompts_per_step: 16, group_size: 8, max_new_tokens: 256, temperature: 1 },
    optim: { lr: 1e-6, warmup_steps: 10, weight_decay: 0 },
    trainer: { steps: o.steps, updates_per_rollout: 4, kl_to_initial_every: o.klEvery },
    eval: { every: o.evalEvery, benchmarks: ["countdown", "math500"] },
    logging: { dir, samples_every: o.samplesEvery },
    ...o.config,
  };
}

/** Writes a complete run directory at `dir` and returns it. */
export function writeSyntheticRun(dir: string, options: SyntheticRunOptions = {}): string {
  const o: Required<SyntheticRunOptions> = { ...defaults(), ...options };
  const rand = mulberry32(o.seed * 7919 + (o.objective === "lgpo" ? 1 : 2));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.yaml"), stringify(syntheticConfig(dir, o)));
  const lines: string[] = [JSON.stringify(evalLine(0, o, rand, o.startTime))];
  let time = o.startTime;
  for (let step = 1; step <= o.steps; step++) {
    const line = trainingLine(step, o, rand, time);
    time += line["time/step_s"]!;
    line.time = time;
    lines.push(JSON.stringify(line));
    if (step % o.evalEvery === 0 || step === o.steps) lines.push(JSON.stringify(evalLine(step, o, rand, time + 5)));
  }
  writeFileSync(join(dir, "metrics.jsonl"), lines.join("\n") + "\n");
  const samples: string[] = [];
  for (let step = o.samplesEvery; step <= o.steps; step += o.samplesEvery) {
    for (let sample = 0; sample < 4; sample++) samples.push(JSON.stringify(sampleLine(step, sample, rand)));
  }
  writeFileSync(join(dir, "samples.jsonl"), samples.join("\n") + (samples.length ? "\n" : ""));
  return dir;
}

/** One line of samples.jsonl. */
export function sampleLine(step: number, sample: number, rand: () => number) {
  const reward = rand() < 0.5 ? 1 : 0;
  return {
    step,
    prompt_index: 0,
    sample,
    prompt: "Using the numbers [3, 7, 25], create an equation that equals 46. <b>not html</b>",
    response: `<think>25 + 3*7 = 46</think><answer>25 + 3*7</answer> #${step}.${sample}`,
    reward,
    advantage: reward - 0.5,
    mean_logprob: -0.1 - 0.4 * rand(),
    gated: reward === 0 ? null : rand() < 0.2,
    finish_reason: "stop",
  };
}

/** Appends one JSON line to a file (as the trainer does: one whole line at a time). */
export function appendLine(path: string, value: unknown): void {
  appendFileSync(path, JSON.stringify(value) + "\n");
}

/**
 * A long run for the speed check: `steps` training lines with every numeric key, written fast
 * (no eval lines, so every series has `steps` points).
 */
export function writeLongRun(dir: string, steps: number, objective: "lgpo" | "grpo" = "lgpo"): string {
  const o = { ...defaults(), objective, steps, klEvery: 1 };
  const rand = mulberry32(objective === "lgpo" ? 11 : 12);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.yaml"), stringify(syntheticConfig(dir, o)));
  const chunk: string[] = [];
  writeFileSync(join(dir, "metrics.jsonl"), "");
  for (let step = 1; step <= steps; step++) {
    chunk.push(JSON.stringify(trainingLine(step, o, rand, o.startTime + step * 30)));
    if (chunk.length === 5000 || step === steps) {
      appendFileSync(join(dir, "metrics.jsonl"), chunk.join("\n") + "\n");
      chunk.length = 0;
    }
  }
  return dir;
}

function defaults(): Required<SyntheticRunOptions> {
  return {
    objective: "lgpo",
    seed: 0,
    steps: 60,
    evalEvery: 20,
    samplesEvery: 10,
    klEvery: 5,
    nullGradSteps: [],
    config: {},
    startTime: 1_750_000_000,
  };
}
