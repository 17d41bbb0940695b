/**
 * The trainer's side of data-parallel training (docs/distributed.md): which prompts of each step a
 * rank generates and trains on, and the job-wide view of a step that its metrics are computed
 * from, so that N ranks log the metrics one process would (the gradients are reduced in the core).
 */
import { ConfigError } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { gatherByIndex, gatherRows } from "../distributed/gather.js";
import type { World } from "../distributed/world.js";
import type { RolloutBatch, RolloutGroup } from "../rollout/rollout.js";
import { splitGroups } from "./updates.js";

/** A rank's prompts of every step. */
export interface RankShare {
  /** Ranges of the step's prompt indices, one per minibatch. */
  ranges: [number, number][];
  /** The step-wide index of each of the rank's groups, in the rank's order. */
  groups: number[];
}

/**
 * The share of `world.rank`: its `1/size` of each minibatch, so that the core's per-minibatch
 * reduction sees the minibatch one process would. `undefined` for one process. Throws a
 * ConfigError when the config cannot be split.
 */
export function planShare(config: RunConfig, world: World): RankShare | undefined {
  if (world.size === 1) return undefined;
  const r = config.rollout;
  if (r.dynamic_sampling.enabled) {
    throw new ConfigError(
      `rollout.dynamic_sampling: not supported with ${world.size} ranks yet (each rank would redraw on its own); run one process`,
    );
  }
  const minibatches = splitGroups(r.prompts_per_step, config.trainer.n_updates);
  const uneven = minibatches.find(([a, b]) => (b - a) % world.size !== 0);
  if (uneven) {
    throw new ConfigError(
      `rollout.prompts_per_step ${r.prompts_per_step} / trainer.n_updates ${config.trainer.n_updates}: a minibatch of ` +
        `${uneven[1] - uneven[0]} prompts does not split over ${world.size} ranks; choose sizes divisible by the ranks`,
    );
  }
  const ranges = rankShare(minibatches, world.rank, world.size);
  return { ranges, groups: ranges.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i)) };
}

/**
 * One rank's `1/size` slice of each of the given consecutive ranges (minibatches), so that every
 * minibatch is split over all ranks. Throws when a range does not split evenly.
 */
export function rankShare(
  ranges: readonly (readonly [number, number])[],
  rank: number,
  size: number,
): [number, number][] {
  return ranges.map(([first, end]) => {
    const n = end - first;
    if (n % size !== 0) throw new RangeError(`a minibatch of ${n} groups does not split over ${size} ranks`);
    const per = n / size;
    return [first + rank * per, first + (rank + 1) * per];
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

/** The step-wide sample indices of a rank's samples, in the rank's order. */
export function sampleIndices(share: RankShare, groupSize: number): number[] {
  return share.groups.flatMap((g) => Array.from({ length: groupSize }, (_, k) => g * groupSize + k));
}

/**
 * The whole step from every rank's part: each sample's reward, score, status, finish reason,
 * length, token entropies, advantage and gate flag, at its step-wide index. The samples carry
 * only what the metrics read (their tokens are placeholders of the right length).
 */
export async function stepView(world: World, share: RankShare, config: RunConfig, local: StepView): Promise<StepView> {
  const g = config.rollout.group_size;
  const groups = config.rollout.prompts_per_step;
  const total = groups * g;
  const at = sampleIndices(share, g);
  const samples = local.batch.groups.flatMap((x) => x.samples);
  // Each sample's scalars, packed into one gather: reward, score, status, finish reason,
  // advantage, gate flag (-1: not evaluated).
  const FIELDS = 6;
  const packed = samples.flatMap((s, i) => [
    s.reward,
    s.score,
    STATUS.indexOf(s.status),
    FINISH.indexOf(s.finishReason),
    local.advantages[i]!,
    local.gated[i] === null ? -1 : local.gated[i] ? 1 : 0,
  ]);
  const packedAt = at.flatMap((j) => Array.from({ length: FIELDS }, (_, f) => j * FIELDS + f));
  const all = await gatherByIndex(world, packed, packedAt, total * FIELDS, "sample statistics");
  const field = (f: number) => Array.from({ length: total }, (_, j) => all[j * FIELDS + f]!);
  const [reward, score, status, finish, advantages, gated] = [0, 1, 2, 3, 4, 5].map(field) as number[][];
  const entropy = await gatherRows(
    world,
    samples.map((s) => s.entropy),
    at,
    total,
    "token entropies",
  );
  const view: RolloutGroup[] = Array.from({ length: groups }, (_, p) => ({
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
    batch: { ...local.batch, groups: view, generated: view },
    advantages: advantages!,
    gated: gated!.map((x) => (x < 0 ? null : x === 1)),
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
