/**
 * Dynamic sampling across ranks, the trainer's half: after the rollout
 * ({@link collectRolloutsAcrossRanks}) each kept group sits on the rank that generated it, but a
 * rank must train on its slice of every minibatch, as one process would cut them, for the core's
 * reduction (and the stochastic gate's streams) to equal one process's. So the kept groups that
 * change rank move: each rank that hands groups to another broadcasts them once, as JSON (exact
 * for doubles; non-finite values are tagged).
 */
import type { World } from "../distributed/world.js";
import type { RankRollout, RolloutBatch, RolloutGroup } from "../rollout/rollout.js";
import { type RankShare, rankShare, shareOf } from "./data_parallel.js";
import { splitGroups } from "./updates.js";

const NON_FINITE = "\u0000number:";

/** Groups as JSON text, NaN and infinities included. */
export function encodeGroups(entries: readonly (readonly [number, RolloutGroup])[]): string {
  return JSON.stringify(entries, (_, v) =>
    typeof v === "number" && !Number.isFinite(v) ? `${NON_FINITE}${String(v)}` : v,
  );
}

/** The entries of {@link encodeGroups}. */
export function decodeGroups(text: string): [number, RolloutGroup][] {
  return JSON.parse(text, (_, v) =>
    typeof v === "string" && v.startsWith(NON_FINITE) ? Number(v.slice(NON_FINITE.length)) : v,
  ) as [number, RolloutGroup][];
}

/**
 * The batch this rank trains on and its share of the step, from its part of a dynamic-sampling
 * rollout: the kept groups cut into `trainer.n_updates` minibatches and each minibatch over the
 * ranks ({@link rankShare}), groups moved to the rank that trains on them.
 */
export async function regroupKept(
  world: World,
  nUpdates: number,
  rollout: RankRollout,
): Promise<{ batch: RolloutBatch; share: RankShare }> {
  const { kept, keptBy } = rollout;
  const minibatches = splitGroups(kept.length, nUpdates);
  const trainedBy = new Array<number>(kept.length);
  for (let r = 0; r < world.size; r++) {
    for (const [a, b] of rankShare(minibatches, r, world.size)) trainedBy.fill(r, a, b);
  }
  const generatedHere = new Map(rollout.generatedAt.map((at, i) => [at, rollout.generated[i]!]));
  const share = {
    ...shareOf(rankShare(minibatches, world.rank, world.size), kept.length),
    generated: { at: rollout.generatedAt, total: rollout.generatedTotal, kept },
  };
  const received = new Map<number, RolloutGroup>();
  for (let from = 0; from < world.size; from++) {
    const moving = kept.flatMap((_, p) => (keptBy[p] === from && trainedBy[p] !== from ? [p] : []));
    if (moving.length === 0) continue;
    const text = from === world.rank ? encodeGroups(moving.map((p) => [p, generatedHere.get(kept[p]!)!] as const)) : "";
    const sent = await world.broadcastText(text, `the kept groups of rank ${from}`, from);
    if (from === world.rank) continue;
    for (const [p, group] of decodeGroups(sent)) if (trainedBy[p] === world.rank) received.set(p, group);
  }
  const groups = share.groups.map((p) => (keptBy[p] === world.rank ? generatedHere.get(kept[p]!)! : received.get(p)!));
  return {
    batch: {
      groups,
      generated: rollout.generated,
      extraBatches: rollout.extraBatches,
      droppedGroups: rollout.droppedGroups,
      generateS: rollout.generateS,
      rewardS: rollout.rewardS,
    },
    share,
  };
}
