/**
 * The rollouts that `lgpo-run bench step` trains on, one kind per shape. `tiny`: Countdown with
 * the model's task card (the `compact` template) scored by the Countdown verifier through the
 * trainer's own `collectRollouts`, on the shipped tiny model `models/countdown-tiny`. `half`:
 * random prompts on a random Qwen2.5-0.5B-shaped checkpoint with 2 layers, every row run to the
 * same length (no stop id), and a synthetic reward with spread, since a random model solves
 * nothing: 1 when the sum of the response's token ids is even, else 0 (deterministic).
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import type { RunConfig } from "../config/schema.js";
import { generatedCountdownTask } from "../data/prompt_stream.js";
import { resolveTemplate } from "../data/prompts.js";
import type { RewardFunction } from "../rewards/types.js";
import { generateGroups } from "../rollout/generate_groups.js";
import { collectRollouts } from "../rollout/rollout.js";
import type { Policy } from "../sdk/policy.js";
import { readTaskCard } from "../trainer/eval_model.js";
import { buildReward } from "../trainer/reward.js";
import { type TrainSequence, trainSequences } from "../trainer/updates.js";
import { hashSeed } from "../util/random.js";
import { benchCheckpoint, benchPrompts } from "./shapes.js";

/** The shapes of the step benchmark. */
export const STEP_SHAPES = ["tiny", "half"] as const;
export type StepShape = (typeof STEP_SHAPES)[number];

/** Batch geometry of a step: B prompts × G samples, up to `newTokens` each. */
export interface StepSize {
  prompts: number;
  groupSize: number;
  newTokens: number;
  /** Tokens per random prompt (`half` only; Countdown prompts have their own length). */
  promptLen: number;
}

/** Defaults per shape: `tiny` finishes a whole bench at one N_updates in well under a minute. */
export const STEP_SIZES: Record<StepShape, StepSize> = {
  tiny: { prompts: 8, groupSize: 8, newTokens: 32, promptLen: 0 },
  half: { prompts: 4, groupSize: 4, newTokens: 16, promptLen: 16 },
};

/** One rollout batch, ready for `updatePolicy`, with the times of its phases. */
export interface StepRollout {
  sequences: TrainSequence[];
  generateS: number;
  rewardS: number;
}

/** Where a shape's rollouts come from. */
export interface StepWorkload {
  shape: StepShape;
  /** The checkpoint every cell starts from. */
  model: string;
  /** Config keys of the workload (data, rollout), merged under each cell's config. */
  config: Record<string, unknown>;
  /** The rollout batch of `repeat`, the same for the same repeat and initial weights. */
  rollout(policy: Policy, config: RunConfig, repeat: number): Promise<StepRollout>;
  close(): Promise<void>;
}

/** `models/countdown-tiny` of this repository (the shipped tiny model). */
export function shippedTinyModel(): string {
  return fileURLToPath(new URL("../../../models/countdown-tiny", import.meta.url));
}

/** Countdown on a trained model (tiny's default) or random prompts with the parity reward (half's). */
export type StepRollouts = "countdown" | "random";

/**
 * The workload of `shape`; `model` overrides the shape's checkpoint and `rollouts` its kind of
 * rollouts (the peer comparison runs random rollouts on any random Qwen2 checkpoint).
 */
export async function stepWorkload(
  shape: StepShape,
  size: StepSize,
  options: { model?: string; cacheDir?: string; seed: number; rollouts?: StepRollouts },
): Promise<StepWorkload> {
  const rollouts = options.rollouts ?? (shape === "tiny" ? "countdown" : "random");
  if (rollouts === "countdown") {
    return countdownWorkload(shape, options.model ?? shippedTinyModel(), size, options.seed);
  }
  return randomWorkload(shape, options.model ?? (await benchCheckpoint("half", options.cacheDir)), size, options.seed);
}

function rolloutConfig(size: StepSize) {
  return {
    prompts_per_step: size.prompts,
    group_size: size.groupSize,
    max_new_tokens: size.newTokens,
    temperature: 1,
    top_p: 1,
    top_k: 0,
  };
}

async function countdownWorkload(shape: StepShape, model: string, size: StepSize, seed: number): Promise<StepWorkload> {
  if (!existsSync(join(model, "config.json"))) {
    throw new Error(
      `${model}: no checkpoint there (the tiny shape is the shipped model models/countdown-tiny; ` +
        "build it, or give another checkpoint with --model PATH)",
    );
  }
  const card = readTaskCard(model);
  const template = card.prompt?.template ?? "compact";
  const config = {
    data: { task: "countdown", prompt: { template }, ...(card.countdown ? { generator: card.countdown } : {}) },
    rollout: rolloutConfig(size),
  };
  let reward: RewardFunction | undefined;
  return {
    shape,
    model,
    config,
    async rollout(policy, c, repeat) {
      reward ??= await buildReward(c.reward, "countdown");
      const tokenizer = policy.tokenizer;
      if (tokenizer === undefined) throw new Error(`${model}: the checkpoint has no tokenizer files`);
      const ctx = {
        policy,
        tokenizer,
        reward,
        template: resolveTemplate(c.data.prompt.template, "countdown", tokenizer),
        config: c,
      };
      const draw = (n: number) =>
        Array.from({ length: n }, (_, i) => generatedCountdownTask(`bench:${seed}:${repeat}:${i}`, c.data.generator));
      const batch = await collectRollouts(ctx, draw, repeat);
      return {
        sequences: trainSequences(batch, c.rollout).sequences,
        generateS: batch.generateS,
        rewardS: batch.rewardS,
      };
    },
    async close() {
      await reward?.close();
    },
  };
}

/** The synthetic reward of the `half` shape: 1 when the response's token ids sum to an even number. */
export function parityReward(tokens: readonly number[]): number {
  return tokens.reduce((a, b) => a + b, 0) % 2 === 0 ? 1 : 0;
}

async function randomWorkload(shape: StepShape, model: string, size: StepSize, seed: number): Promise<StepWorkload> {
  return {
    shape,
    model,
    config: { data: { task: "countdown" }, rollout: rolloutConfig(size) },
    async rollout(policy, c, repeat) {
      // Ids the model has (a small test checkpoint's vocabulary is smaller than Qwen2.5's).
      const vocab = JSON.parse(readFileSync(join(model, "config.json"), "utf8")).vocab_size as number;
      const prompts = benchPrompts(size.prompts, size.promptLen, hashSeed(`bench:${seed}:${repeat}`), vocab);
      const samples: { promptIds: number[]; tokens: number[]; logprobs: number[]; reward: number }[][] = [];
      const timings = await generateGroups(
        policy,
        prompts,
        {
          groupSize: c.rollout.group_size,
          maxNewTokens: c.rollout.max_new_tokens,
          temperature: 1,
          topP: 1,
          topK: 0,
          rowsPerChunk: c.rollout.generation_batch_size,
          stopTokenIds: [],
          seed: hashSeed(`rollout:${c.seed}:${repeat}:0`),
        },
        async (groups, first) => {
          groups.forEach((g, i) => {
            samples[first + i] = g.map((s) => ({ ...s, reward: parityReward(s.tokens) }));
          });
        },
      );
      const groups = samples.map((s) => ({ samples: s }));
      return {
        sequences: trainSequences({ groups }, c.rollout).sequences,
        generateS: timings.generateS,
        rewardS: timings.tailS,
      };
    },
    async close() {},
  };
}
