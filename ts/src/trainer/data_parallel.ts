/**
 * The trainer's side of data-parallel training (docs/distributed.md): which prompts of each step a
 * rank generates and trains on, and the job-wide view of a step that its metrics are computed
 * from, so that N ranks log the metrics one process would (the gradients are reduced in the core).
 */
import type { RunConfig } from "../config/schema.js";
import { gatherByIndex, gatherRows } from "../distributed/gather.js";
import { rankSlice } from "../distributed/slice.js";
import type { World } from "../distributed/world.js";
import type { RolloutBatch, RolloutGroup } from "../rollout/rollout.js";
import { splitGroups } from "./updates.js";

/** Where a rank's groups sit in a step, in one process's numbering. */
export interface RankShare {
  /** Ranges of the step's trained groups, one per minibatch (some may be empty). */
  ranges: [number, number][];
  /** The step-wide index of each of the rank's trained groups, in the rank's order. */
  groups: number[];
  /** Groups the step trains on, on all ranks (B without dynamic sampling). */
  total: number;
  /**
   * Dynamic sampling: each of the rank's generated groups' index among the step's generated
   * groups, their count, and the generated index of each trained group. Absent: the generated
   * groups are the trained ones.
   */
  generated?: { at: number[]; total: number; kept: number[] };
}

/** The share made of the given ranges of a step of `total` trained groups. */
export function shareOf(ranges: [number, number][], total: number): RankShare {
  return { ranges, groups: ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i)), total };
}

/**
 * The share of `world.rank` in a step without dynamic sampling: its slice of each minibatch, so
 * that the core's per-minibatch reduction sees the minibatch one process would. `undefined` for
 * one process. (With dynamic sampling the share is made each step: {@link regroupKept}.)
 */
export function planShare(config: RunConfig, world: World): RankShare | undefined {
  if (world.size === 1) return undefined;
  const b = config.rollout.prompts_per_step;
  return shareOf(rankShare(splitGroups(b, config.trainer.n_updates), world.rank, world.size), b);
}

/**
 * One rank's slice of each of the given consecutive ranges (minibatches), so that every minibatch
 * is split over all ranks in rank order ({@link rankSlice}: uneven where a range does not divide,
 * empty where it has fewer groups than ranks).
 */
export function rankShare(
  ranges: readonly (readonly [number, number])[],
  rank: number,
  size: number,
): [number, number][] {
  return ranges.map(([first, end]) => {
    const [a, b] = rankSlice(end - first, rank, size);
    return [first + a, first + b];
  });
}

/** The rank's minibatches as ranges of its own groups (what `updatePolicy` cuts its sequences by). */
export function localParts(share: RankShare): [number, number][] {
  let at = 0;
  return share.ranges.map(([a, b]) => {
    at += b - a;
    return [at - (b - a), at];
  });
}

/** What the step's metrics and the gate read, for the rank's sequences or the whole step. */
export interface StepView {
  batch: RolloutBatch;
  advantages: number[];
  gated: (boolean | null)[];
}

const STATUS = ["ok", "error", "timeout"] as const;
const FINISH = ["stop", "length"] as const;

/** The step-wide sample indices of the samples of the given step-wide groups, in order. */
export function sampleIndices(groups: readonly number[], groupSize: number): number[] {
  return groups.flatMap((g) => Array.from({ length: groupSize }, (_, k) => g * groupSize + k));
}

/**
 * The whole step from every rank's part: each generated sample's reward, score, status, finish
 * reason, length and token entropies, and each trained sample's advantage and gate flag, at its
 * step-wide index. The samples carry only what the metrics read (their tokens are placeholders of
 * the right length).
 */
export async function stepView(world: World, share: RankShare, config: RunConfig, local: StepView): Promise<StepView> {
  const g = config.rollout.group_size;
  const gen = share.generated ?? { at: share.groups, total: share.total, kept: undefined };
  const [genAt, keptAt] = [sampleIndices(gen.at, g), sampleIndices(share.groups, g)];
  const [genTotal, keptTotal] = [gen.total * g, share.total * g];
  const samples = local.batch.generated.flatMap((x) => x.samples);
  // One gather: per generated sample reward, score, status, finish reason; then per trained
  // sample advantage and gate flag (-1: not evaluated).
  const [GEN, KEPT] = [4, 2];
  const packed = [
    ...samples.flatMap((s) => [s.reward, s.score, STATUS.indexOf(s.status), FINISH.indexOf(s.finishReason)]),
    ...local.advantages.flatMap((a, i) => [a, local.gated[i] === null ? -1 : local.gated[i] ? 1 : 0]),
  ];
  const packedAt = [
    ...genAt.flatMap((j) => Array.from({ length: GEN }, (_, f) => j * GEN + f)),
    ...keptAt.flatMap((j) => Array.from({ length: KEPT }, (_, f) => genTotal * GEN + j * KEPT + f)),
  ];
  const all = await gatherByIndex(world, packed, packedAt, genTotal * GEN + keptTotal * KEPT, "sample statistics");
  const field = (f: number) => Array.from({ length: genTotal }, (_, j) => all[j * GEN + f]!);
  const [reward, score, status, finish] = [0, 1, 2, 3].map(field) as number[][];
  const kept = (f: number) => Array.from({ length: keptTotal }, (_, j) => all[genTotal * GEN + j * KEPT + f]!);
  const entropy = await gatherRows(
    world,
    samples.map((s) => s.entropy),
    genAt,
    genTotal,
    "token entropies",
  );
  const generated: RolloutGroup[] = Array.from({ length: gen.total }, (_, p) => ({
    task: undefined as never,
    prompt: "",
    samples: Array.from({ length: g }, (_, k) => {
      const i = p * g + k;
      return {
        promptIds: [],
        tokens: new Array<number>(entropy[i]!.length).fill(0),
        logprobs: [],
        entropy: entropy[i]!,
        text: "",
        finishReason: FINISH[finish![i]!]!,
        unknownTokens: 0,
        reward: reward![i]!,
        score: score![i]!,
        status: STATUS[status![i]!]!,
      };
    }),
  }));
  return {
    batch: { ...local.batch, groups: gen.kept ? gen.kept.map((i) => generated[i]!) : generated, generated },
    advantages: kept(0),
    gated: kept(1).map((x) => (x < 0 ? null : x === 1)),
  };
}

/** The slowest rank's value of each timing (a step takes as long as its slowest rank). */
export function slowest(world: World, seconds: number[]): Promise<number[]> {
  return world.allReduce(seconds, "max", "step timings");
}

/**
 * Fault injection for the tests of a failing rank: `LGPO_FAULT=rank-kill@R:S` kills rank R
 * (SIGKILL) as step S starts, `rank-hang@R:S` makes it hang there.
 */
export async function injectRankFault(world: World, step: number): Promise<void> {
  const fault = /^rank-(kill|hang)@(\d+):(\d+)$/.exec(process.env.LGPO_FAULT ?? "");
  if (!fault || Number(fault[2]) !== world.rank || Number(fault[3]) !== step) return;
  if (fault[1] === "kill") process.kill(process.pid, "SIGKILL");
  await new Promise(() => setInterval(() => {}, 60_000));
}
