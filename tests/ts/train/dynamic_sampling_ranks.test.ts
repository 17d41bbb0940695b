/**
 * DAPO's dynamic sampling across data-parallel ranks, the JS side, with ranks simulated in one
 * process (fake_world.ts): the ranks keep and redraw exactly what one process would, each ends up
 * with its slice of every minibatch of the kept groups (moved from the rank that generated them),
 * and the job-wide view of the step gives one process's metrics. The MPI test
 * (distributed.test.ts) runs the same through the core.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { resolveConfig } from "../../../ts/src/config/load.js";
import type { RunConfig } from "../../../ts/src/config/schema.js";
import { resolveTemplate } from "../../../ts/src/data/prompts.js";
import type { Task } from "../../../ts/src/data/tasks.js";
import { rankSlice } from "../../../ts/src/distributed/slice.js";
import { defineReward } from "../../../ts/src/rewards/custom.js";
import type { RewardFunction } from "../../../ts/src/rewards/types.js";
import {
  collectRollouts,
  collectRolloutsAcrossRanks,
  type RolloutContext,
  type RolloutGroup,
} from "../../../ts/src/rollout/rollout.js";
import { Policy } from "../../../ts/src/sdk/policy.js";
import { localParts, rankShare, stepView } from "../../../ts/src/trainer/data_parallel.js";
import { decodeGroups, encodeGroups, regroupKept } from "../../../ts/src/trainer/regroup_kept.js";
import { rolloutMetrics } from "../../../ts/src/trainer/step_metrics.js";
import { splitGroups, trainSequences } from "../../../ts/src/trainer/updates.js";
import { fakeWorlds } from "../distributed/fake_world.js";
import { tinyByteModel } from "./tiny_model.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-ds-ranks-"));
let policy: Policy;
beforeAll(async () => {
  policy = await Policy.load(await tinyByteModel(join(tmp, "model"), { hidden: 32, layers: 1 }), { seed: 1 });
});
afterAll(() => {
  policy.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

// Odd targets: every sample scores 1 (no spread: dropped); even ones: parity of the first byte.
const mixed = defineReward("mixed", ({ response, reference }) =>
  (reference.target as number) % 2 ? 1 : response.charCodeAt(0) % 2,
);
const TASKS: Task[] = Array.from({ length: 200 }, (_, i) => ({
  kind: "countdown",
  target: (i * 7) % 31,
  nums: [1, 2, 3],
}));

function config(extra: number): RunConfig {
  return resolveConfig({
    model: { path: "unused" },
    objective: { name: "dapo" },
    data: { task: "countdown" },
    rollout: {
      prompts_per_step: 6,
      group_size: 4,
      max_new_tokens: 10,
      generation_batch_size: 8,
      dynamic_sampling: { enabled: true, max_extra_batches: extra },
    },
    trainer: { steps: 1, n_updates: 2 },
    seed: 3,
  });
}

function context(c: RunConfig, reward: RewardFunction): RolloutContext {
  const tokenizer = policy.tokenizer!;
  return {
    policy,
    tokenizer,
    reward,
    template: resolveTemplate(c.data.prompt.template, "countdown", tokenizer),
    config: c,
  };
}

/** A fresh draw over TASKS from `first` (every rank draws what one process draws). */
function drawFrom(first: number) {
  let at = first;
  return (n: number) => {
    at += n;
    return TASKS.slice(at - n, at);
  };
}

const tokensOf = (groups: readonly RolloutGroup[]) => groups.map((g) => g.samples.map((s) => [s.tokens, s.reward]));

async function ranksOf(size: number, ctx: RolloutContext, first: number) {
  const worlds = fakeWorlds(size);
  return Promise.all(
    worlds.map(async (world) => {
      const rollout = await collectRolloutsAcrossRanks(ctx, drawFrom(first), 0, world);
      return { world, rollout, ...(await regroupKept(world, ctx.config.trainer.n_updates, rollout)) };
    }),
  );
}

describe("rank slices", () => {
  it("cut a list in rank order, as evenly as it allows", () => {
    expect([0, 1, 2].map((r) => rankSlice(7, r, 3))).toEqual([
      [0, 2],
      [2, 4],
      [4, 7],
    ]);
    expect([0, 1, 2].map((r) => rankSlice(2, r, 3))).toEqual([
      [0, 0],
      [0, 1],
      [1, 2],
    ]);
    expect(rankShare(splitGroups(6, 2), 1, 4)).toEqual([
      [0, 1],
      [3, 4],
    ]);
    expect(localParts({ ranges: rankShare(splitGroups(5, 2), 1, 2), groups: [], total: 5 })).toEqual([
      [0, 1],
      [1, 3],
    ]);
  });

  it("move groups as exact JSON, non-finite numbers included", () => {
    const group = {
      task: TASKS[0]!,
      prompt: "p",
      samples: [
        {
          promptIds: [1],
          tokens: [2, 3],
          text: "x",
          logprobs: [-0.1234567890123, Number.NEGATIVE_INFINITY],
          entropy: [Number.NaN, 1 / 3],
          unknownTokens: 0,
          finishReason: "stop" as const,
          reward: 0.5,
          score: 0.5,
          status: "ok" as const,
        },
      ],
    };
    const [[at, back]] = decodeGroups(encodeGroups([[4, group]])) as [[number, RolloutGroup]];
    expect(at).toBe(4);
    expect(back).toEqual(group);
    expect(Object.is(back.samples[0]!.entropy[0], Number.NaN)).toBe(true);
  });
});

describe("dynamic sampling across ranks", () => {
  for (const size of [2, 3]) {
    it(`keeps, redraws and trains on what one process would (${size} ranks)`, async () => {
      const ctx = context(config(4), mixed);
      const single = await collectRollouts(ctx, drawFrom(0), 0);
      expect(single.droppedGroups).toBeGreaterThan(0);
      expect(single.extraBatches).toBeGreaterThan(0);
      const ranks = await ranksOf(size, ctx, 0);
      const k = single.groups.length;
      const trained = new Map<number, RolloutGroup>();
      const generated = new Map<number, RolloutGroup>();
      let moved = 0;
      for (const { world, rollout, batch, share } of ranks) {
        expect([batch.extraBatches, batch.droppedGroups]).toEqual([single.extraBatches, single.droppedGroups]);
        expect(share.total).toBe(k);
        // Its slice of each of one process's minibatches of the kept groups.
        expect(share.ranges).toEqual(rankShare(splitGroups(k, 2), world.rank, size));
        share.groups.forEach((p, i) => {
          trained.set(p, batch.groups[i]!);
        });
        share.generated!.at.forEach((at, i) => {
          generated.set(at, batch.generated[i]!);
        });
        moved += share.groups.filter((p) => rollout.keptBy[p] !== world.rank).length;
      }
      expect([...trained.keys()].sort((a, b) => a - b)).toEqual([...Array(k).keys()]);
      expect(tokensOf([...Array(k).keys()].map((p) => trained.get(p)!))).toEqual(tokensOf(single.groups));
      expect(generated.size).toBe(single.generated.length);
      expect(tokensOf([...Array(generated.size).keys()].map((i) => generated.get(i)!))).toEqual(
        tokensOf(single.generated),
      );
      expect(moved).toBeGreaterThan(0);
      // The job-wide view of the step: one process's rollout metrics and advantages.
      const views = await Promise.all(
        ranks.map(({ world, batch, share }) => {
          const { advantages } = trainSequences(batch, ctx.config.rollout);
          return stepView(world, share, ctx.config, { batch, advantages, gated: advantages.map(() => null) });
        }),
      );
      const { advantages } = trainSequences(single, ctx.config.rollout);
      // Token entropies come from each rank's own batch of rows: equal up to summation order.
      const { "entropy/mean": entropy, ...exact } = rolloutMetrics(single, 10, 1);
      for (const view of views) {
        const { "entropy/mean": got, ...rest } = rolloutMetrics(view.batch, 10, 1);
        expect(rest).toEqual(exact);
        expect(Math.abs(got! - entropy!)).toBeLessThan(1e-6 * entropy!);
        expect(view.advantages).toEqual(advantages);
        expect(view.batch.groups).toHaveLength(k);
      }
    }, 120_000);
  }

  it("agrees on an empty step when every group is dropped", async () => {
    const ctx = context(
      config(1),
      defineReward("constant", () => 1),
    );
    const single = await collectRollouts(ctx, drawFrom(50), 0);
    expect(single.groups).toHaveLength(0);
    for (const { batch, share } of await ranksOf(2, ctx, 50)) {
      expect(share.total).toBe(0);
      expect(batch.groups).toHaveLength(0);
      expect([batch.extraBatches, batch.droppedGroups]).toEqual([1, 12]);
    }
  }, 120_000);
});
