/**
 * The reward of a run: the task's verifier, or a user module (`reward.function: ./my_reward.mjs`
 * whose default export scores one `{ response, reference }`), wrapped with the per-sample timeout
 * and failure score, so a reward that throws or hangs costs one sample, not the run.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

import { ConfigError } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { countdownReward, mathReward } from "../rewards/builtin.js";
import { type CustomRewardFn, defineReward } from "../rewards/custom.js";
import type { RewardFunction } from "../rewards/types.js";

/** Builds the reward of `task` from the config's `reward` section. */
export async function buildReward(reward: RunConfig["reward"], task: "countdown" | "math"): Promise<RewardFunction> {
  if (reward.function === null) {
    if (task === "countdown") return countdownReward();
    return mathReward({ timeoutMs: reward.timeout_ms, ...(reward.workers !== null ? { size: reward.workers } : {}) });
  }
  const path = resolve(reward.function);
  if (!existsSync(path)) throw new ConfigError(`reward.function: ${reward.function}: no such file`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    throw new ConfigError(
      `reward.function: ${reward.function}: cannot be imported (${(e as Error).message.split("\n")[0]})`,
    );
  }
  if (typeof module.default !== "function") {
    throw new ConfigError(`reward.function: ${reward.function} must export a default function (input) => number`);
  }
  return defineReward(reward.function, module.default as CustomRewardFn, {
    timeoutMs: reward.timeout_ms,
    failureScore: reward.failure_score,
  });
}
