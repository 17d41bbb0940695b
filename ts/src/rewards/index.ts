/**
 * Reward verifiers: Countdown and math answer equivalence, a registry by name, custom reward
 * functions, and the `verify` command's file checker.
 *
 * @example
 * import { rewards } from "lgpo";
 * const reward = rewards.get("math", { verify: { extract: { finalAnswer: true } } });
 * const { results, metrics } = await reward.score([{ response: "... \\boxed{\\frac{1}{2}}", reference: { answer: "0.5" } }]);
 * await reward.close();
 */

import { countdownReward, mathReward, type MathRewardOptions } from "./builtin.js";
import type { CountdownOptions } from "./countdown.js";
import { defineReward } from "./custom.js";
import { RewardRegistry } from "./registry.js";

export * from "./types.js";
export * from "./countdown.js";
export * from "./custom.js";
export * from "./registry.js";
export * from "./builtin.js";
export * from "./pool.js";
export { Rational } from "./rational.js";
export { MathVerifierPool, type MathPoolOptions, type MathItem } from "./math/math_pool.js";
export {
  verifyMath,
  checkEquivalent,
  extractAnswer,
  parseGold,
  answersEqual,
  parseAnswerText,
  MATH_VERIFY_DEFAULTS,
  type MathVerifyOptions,
  type MathVerdict,
  type MathCheck,
  type ParsedAnswer,
} from "./math/verify.js";
export { extractCandidates, lastBoxed, EXTRACT_DEFAULTS, type ExtractOptions, type Candidate } from "./math/extract.js";
export { normalizeAnswer, type Normalized } from "./math/normalize.js";
export { parseAnswer, type AnswerNode, type RelOp } from "./math/structure.js";
export { COMPARE_DEFAULTS, type CompareOptions } from "./math/scalar.js";
export {
  verifyFile,
  formatVerifySummary,
  VerifyInputError,
  type VerifyTask,
  type VerifySummary,
  type VerifyFileOptions,
} from "./verify_file.js";

/** The process-wide reward registry, with the built-ins "countdown" and "math" registered. */
export const rewardRegistry = new RewardRegistry();
rewardRegistry.register<CountdownOptions>("countdown", (o) => countdownReward(o));
rewardRegistry.register<MathRewardOptions>("math", (o) => mathReward(o));

/** The SDK's entry point to rewards. */
export const rewards = {
  /** The Countdown reward (TinyZero scoring: 1 / 0.1 / 0). */
  countdown: countdownReward,
  /** The math reward (worker pool; close it when done). */
  math: mathReward,
  /** Wraps a custom sync or async scoring function. */
  define: defineReward,
  /** The registry of rewards by name. */
  registry: rewardRegistry,
  /** Builds a registered reward by name; unknown names fail listing the valid ones. */
  get: <O = unknown>(name: string, options?: O) => rewardRegistry.create<O>(name, options),
  /** Registers a reward factory under a new name; a taken name fails. */
  register: <O = unknown>(name: string, factory: (options?: O) => import("./types.js").RewardFunction) =>
    rewardRegistry.register<O>(name, factory),
};
