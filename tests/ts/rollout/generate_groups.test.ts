/** Chunked rollouts: one seed rule, so the rows do not depend on how the prompts are chunked. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { generateGroups, type Group, type GroupSampling } from "../../../ts/src/rollout/generate_groups.js";
import { Policy } from "../../../ts/src/index.js";
import { TINY_TIED } from "../fixtures.js";

let policy: Policy;
beforeAll(async () => {
  policy = await Policy.load(TINY_TIED, { seed: 1 });
});
afterAll(() => policy.dispose());

const prompts = [[5, 17, 99], [42, 8], [11], [90, 91, 3], [7, 7]];

async function rollout(rowsPerChunk: number): Promise<{ tokens: number[][][]; firsts: number[] }> {
  const sampling: GroupSampling = {
    groupSize: 3,
    maxNewTokens: 8,
    temperature: 1,
    topP: 1,
    topK: 0,
    rowsPerChunk,
    stopTokenIds: [],
    seed: 21,
  };
  const chunks: { first: number; groups: Group[] }[] = [];
  await generateGroups(policy, prompts, sampling, async (groups, first) => {
    chunks.push({ first, groups });
  });
  chunks.sort((a, b) => a.first - b.first);
  const tokens = chunks.flatMap((c) => c.groups.map((g) => g.map((s) => s.tokens)));
  return { tokens, firsts: chunks.map((c) => c.first) };
}

describe("generateGroups", () => {
  it("gives every chunking the rows of one call", async () => {
    const whole = await rollout(64);
    const oneGroupPerCall = await rollout(3);
    const twoGroupsPerCall = await rollout(6);
    expect(whole.firsts).toEqual([0]);
    expect(oneGroupPerCall.firsts).toEqual([0, 1, 2, 3, 4]);
    expect(twoGroupsPerCall.firsts).toEqual([0, 2, 4]);
    expect(whole.tokens).toHaveLength(prompts.length);
    expect(oneGroupPerCall.tokens).toEqual(whole.tokens);
    expect(twoGroupsPerCall.tokens).toEqual(whole.tokens);
    // The samples of a group differ: each row has its own stream.
    expect(new Set(whole.tokens[0]!.map((t) => t.join(","))).size).toBeGreaterThan(1);
  });

  it("matches Policy.generate's firstRow for a later chunk", async () => {
    const whole = await policy.generate(prompts, { n: 3, maxNewTokens: 8, seed: 21, stopTokenIds: [] });
    const tail = await policy.generate(prompts.slice(2), {
      n: 3,
      maxNewTokens: 8,
      seed: 21,
      firstRow: 6,
      stopTokenIds: [],
    });
    expect(tail.map((g) => g.tokens)).toEqual(whole.slice(6).map((g) => g.tokens));
    await expect(policy.generate(prompts, { firstRow: -1 })).rejects.toThrow(/firstRow/);
  });
});
