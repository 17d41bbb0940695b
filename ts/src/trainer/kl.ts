/**
 * KL(π_θ ‖ π_initial) on the step's rollouts (paper Figure 2), with the k3 estimator over tokens
 * sampled from π_θ: E[exp(d) − d − 1], d = log π_initial − log π_θ (unbiased, non-negative).
 */
import type { RunConfig } from "../config/schema.js";
import { SINGLE_PROCESS, type World } from "../distributed/world.js";
import type { Policy } from "../sdk/policy.js";
import type { TrainSequence } from "./updates.js";

/**
 * Token-mean k3 estimate of KL(current ‖ initial) on `sequences` (sampled from the current
 * policy); in a data-parallel job, over every rank's sequences.
 */
export async function klToInitial(
  policy: Policy,
  initial: Policy,
  sequences: readonly TrainSequence[],
  config: RunConfig,
  world: World = SINGLE_PROCESS,
): Promise<number> {
  const pairs = sequences.map((s) => ({ promptIds: s.promptIds, responseIds: s.responseIds }));
  const micro = { microBatchSize: config.trainer.micro_batch_size };
  const r = config.rollout;
  // Without truncation the sampling log-probs are the current policy's (scored at the rollout
  // temperature, as the policy scores).
  const current =
    r.top_p === 1 && r.top_k === 0
      ? sequences.map((s) => s.samplingLogprobs)
      : (await policy.logprobs(pairs, micro)).map((s) => s.logprobs);
  const reference = (await initial.logprobs(pairs, micro)).map((s) => s.logprobs);
  let sum = 0;
  let tokens = 0;
  current.forEach((row, i) => {
    row.forEach((lp, t) => {
      const d = reference[i]![t]! - lp;
      sum += Math.exp(d) - d - 1;
      tokens++;
    });
  });
  if (world.size > 1) {
    const [jobSum, jobTokens] = await world.allReduce([sum, tokens], "sum", "KL to the initial policy");
    sum = jobSum!;
    tokens = jobTokens!;
  }
  return tokens ? sum / tokens : 0;
}
