// The old-log-prob pass of updatePolicy against a recording stand-in for the policy: which
// sequences it scores and what each optimizer step receives.
import { describe, expect, it } from "vitest";
import type { RunConfig } from "../../../ts/src/config/schema.js";
import type { ObjectiveRequirements } from "../../../ts/src/sdk/objectives.js";
import type { Policy } from "../../../ts/src/sdk/policy.js";
import { type TrainSequence, updatePolicy } from "../../../ts/src/trainer/updates.js";

interface Recorded {
  scored: number[][];
  steps: { advantages: number[]; oldLogprobs?: number[][]; oldIsCurrent?: boolean }[];
}

/** A policy whose log-prob of every response token is its sequence's first prompt id. */
function recordingPolicy(): { policy: Policy; seen: Recorded } {
  const seen: Recorded = { scored: [], steps: [] };
  const policy = {
    async logprobs(seqs: { promptIds: number[]; responseIds: number[] }[]) {
      seen.scored.push(seqs.map((s) => s.promptIds[0]!));
      return seqs.map((s) => ({ logprobs: s.responseIds.map(() => s.promptIds[0]!), entropy: [] }));
    },
    async trainStep(mb: { sequences: unknown[]; advantages: number[]; oldLogprobs?: number[][] }) {
      seen.steps.push(mb);
      return { metrics: {}, sequences: mb.sequences.map(() => ({ gated: null, meanLogprob: null })) };
    },
  };
  return { policy: policy as unknown as Policy, seen };
}

// Sequence i has prompt [i] and i + 1 response tokens; groups of 2: groups 0 and 2 have A = 0.
const advantages = [0, 0, 1, -1, 0, 0, -0.5, 0.5];
const sequences: TrainSequence[] = advantages.map((advantage, i) => ({
  promptIds: [i],
  responseIds: new Array(i + 1).fill(7),
  advantage,
  samplingLogprobs: [],
}));
const grpo: ObjectiveRequirements = {
  name: "grpo",
  needsOldLogprobs: true,
  needsRefLogprobs: false,
  skipsZeroAdvantage: true,
  aggregation: "token_mean",
};
const trainer = (o: Partial<RunConfig["trainer"]>) =>
  ({
    trainer: { n_updates: 2, micro_batch_size: 4, old_logprobs: "recompute", skip_zero_advantage: true, ...o },
  }) as unknown as RunConfig;

describe("updatePolicy's old-log-prob pass", () => {
  it("scores only the sequences the update trains when zero-advantage skipping is on", async () => {
    const { policy, seen } = recordingPolicy();
    await updatePolicy(policy, sequences, 2, { name: "grpo" }, grpo, trainer({}));
    expect(seen.scored).toEqual([[2, 3, 6, 7]]);
    // Two minibatches of two groups; skipped sequences get zeros of their length.
    expect(seen.steps.map((s) => s.oldLogprobs)).toEqual([
      [[0], [0, 0], [2, 2, 2], [3, 3, 3, 3]],
      [
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0],
        [6, 6, 6, 6, 6, 6, 6],
        [7, 7, 7, 7, 7, 7, 7, 7],
      ],
    ]);
  });

  it("scores every sequence without skipping, or when the objective needs them all", async () => {
    for (const [config, requirements] of [
      [trainer({ skip_zero_advantage: false }), grpo],
      [trainer({}), { ...grpo, skipsZeroAdvantage: false }],
    ] as const) {
      const { policy, seen } = recordingPolicy();
      await updatePolicy(policy, sequences, 2, { name: "grpo" }, requirements, config);
      expect(seen.scored).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
      expect(seen.steps[1]!.oldLogprobs![0]).toEqual([4, 4, 4, 4, 4]);
    }
  });

  it("with skip_first, scores the trained sequences after the first minibatch", async () => {
    const { policy, seen } = recordingPolicy();
    await updatePolicy(policy, sequences, 2, { name: "grpo" }, grpo, trainer({ old_logprobs: "skip_first" }));
    expect(seen.scored).toEqual([[6, 7]]);
    expect(seen.steps[0]).toMatchObject({ oldIsCurrent: true });
    expect(seen.steps[0]!.oldLogprobs).toBeUndefined();
  });
});
