/**
 * One rollout batch (paper Algorithm 1, line 2): B prompts × G samples from the current policy,
 * scored by the reward, with DAPO's dynamic sampling (redraw prompts until B groups have unequal
 * rewards) and overlong shaping when configured.
 */
import type { RunConfig } from "../config/schema.js";
import type { PromptTemplate } from "../data/prompts.js";
import { renderPrompt } from "../data/prompts.js";
import { rewardReference, type Task } from "../data/tasks.js";
import { gatherByIndex } from "../distributed/gather.js";
import { rankSlice } from "../distributed/slice.js";
import type { World } from "../distributed/world.js";
import type { RewardFunction, RewardResult } from "../rewards/types.js";
import type { Generation, Policy } from "../sdk/policy.js";
import type { Tokenizer } from "../sdk/tokenizer.js";
import { hashSeed } from "../util/random.js";
import { overlongPenalty } from "./advantages.js";
import { generateGroups, type Group } from "./generate_groups.js";

/** One scored sample. */
export interface RolloutSample extends Generation {
  /** Reward used for the advantage (overlong shaping included). */
  reward: number;
  /** The verifier's score before shaping; success is `score >= success_threshold`. */
  score: number;
  status: RewardResult["status"];
  verdict?: string;
}

/** The G samples of one prompt. */
export interface RolloutGroup {
  task: Task;
  prompt: string;
  samples: RolloutSample[];
}

/** What {@link collectRollouts} returns. */
export interface RolloutBatch {
  /** Groups to train on (B of them, fewer if dynamic sampling ran out of draws). */
  groups: RolloutGroup[];
  /** Every generated group of the step, dropped ones included (for metrics). */
  generated: RolloutGroup[];
  /** DAPO dynamic sampling: extra prompt batches drawn and groups dropped for equal rewards. */
  extraBatches: number;
  droppedGroups: number;
  generateS: number;
  rewardS: number;
}

/** Everything a rollout needs besides the prompts. */
export interface RolloutContext {
  policy: Policy;
  tokenizer: Tokenizer;
  reward: RewardFunction;
  template: PromptTemplate;
  config: RunConfig;
}

async function scoreGroups(reward: RewardFunction, groups: Group[], tasks: readonly Task[]): Promise<RewardResult[][]> {
  const inputs = groups.flatMap((g, i) => g.map((s) => ({ response: s.text, reference: rewardReference(tasks[i]!) })));
  let results: RewardResult[];
  try {
    results = (await reward.score(inputs)).results;
  } catch (e) {
    // A reward that rejects a whole batch scores it 0 (counted as errors); training goes on.
    const detail = e instanceof Error ? e.message : String(e);
    results = inputs.map(() => ({ score: 0, status: "error", detail }));
  }
  return groups.map((g, i) => results.slice(i * g.length, (i + 1) * g.length));
}

/** Generates and scores G samples for each task; `firstPrompt` places `tasks` in the step's list. */
async function rolloutTasks(ctx: RolloutContext, tasks: readonly Task[], seed: number, firstPrompt = 0) {
  const { config: c } = ctx;
  const prompts = tasks.map((t) => renderPrompt(t, ctx.template, ctx.tokenizer, c.data.prompt.system));
  const promptIds = prompts.map((p) => ctx.tokenizer.encode(p));
  const groups: RolloutGroup[] = new Array(tasks.length);
  const timings = await generateGroups(
    ctx.policy,
    promptIds,
    {
      groupSize: c.rollout.group_size,
      maxNewTokens: c.rollout.max_new_tokens,
      temperature: c.rollout.temperature,
      topP: c.rollout.top_p,
      topK: c.rollout.top_k,
      rowsPerChunk: c.rollout.generation_batch_size,
      seed,
      firstPrompt,
    },
    async (chunk, first) => {
      const chunkTasks = tasks.slice(first, first + chunk.length);
      const scored = await scoreGroups(ctx.reward, chunk, chunkTasks);
      chunk.forEach((samples, i) => {
        groups[first + i] = {
          task: chunkTasks[i]!,
          prompt: prompts[first + i]!,
          samples: samples.map((g, k) => toSample(g, scored[i]![k]!, c)),
        };
      });
    },
  );
  return { groups, generateS: timings.generateS, rewardS: timings.tailS };
}

function toSample(g: Generation, r: RewardResult, c: RunConfig): RolloutSample {
  const o = c.rollout.overlong;
  const shaping = o.enabled ? overlongPenalty(g.tokens.length, c.rollout.max_new_tokens, o.buffer, o.penalty) : 0;
  return {
    ...g,
    reward: r.score + shaping,
    score: r.score,
    status: r.status,
    ...(r.verdict !== undefined ? { verdict: r.verdict } : {}),
  };
}

function hasSpread(g: RolloutGroup): boolean {
  return g.samples.some((s) => s.reward !== g.samples[0]!.reward);
}

function rolloutSeed(ctx: RolloutContext, step: number, attempt: number): number {
  return hashSeed(`rollout:${ctx.config.seed}:${step}:${attempt}`);
}

/**
 * A data-parallel rank's part of the rollout batch of `step`: every rank draws the step's B tasks
 * and generates the groups of its `share` (ranges of prompt indices), each sample drawing the
 * random stream it has in the whole batch, so the ranks' groups together are the batch one
 * process would generate. Without dynamic sampling (see {@link collectRolloutsAcrossRanks}).
 */
export async function collectRolloutShare(
  ctx: RolloutContext,
  draw: (n: number) => Task[],
  step: number,
  share: readonly (readonly [number, number])[],
): Promise<RolloutBatch> {
  const tasks = draw(ctx.config.rollout.prompts_per_step);
  const seed = rolloutSeed(ctx, step, 0);
  const groups: RolloutGroup[] = [];
  let generateS = 0;
  let rewardS = 0;
  for (const [first, end] of share) {
    const out = await rolloutTasks(ctx, tasks.slice(first, end), seed, first);
    groups.push(...out.groups);
    generateS += out.generateS;
    rewardS += out.rewardS;
  }
  return { groups, generated: groups, extraBatches: 0, droppedGroups: 0, generateS, rewardS };
}

/** A rank's part of a dynamic-sampling rollout ({@link collectRolloutsAcrossRanks}). */
export interface RankRollout {
  /** The groups this rank generated, dropped ones included, in the step's order. */
  generated: RolloutGroup[];
  /** Each one's index among the step's generated groups (one process's order). */
  generatedAt: number[];
  /** Groups the step generated on all ranks. */
  generatedTotal: number;
  /** The generated index of each group to train on, in one process's order (B at most). */
  kept: number[];
  /** The rank that generated each group of `kept`. */
  keptBy: number[];
  extraBatches: number;
  droppedGroups: number;
  generateS: number;
  rewardS: number;
}

/**
 * DAPO's dynamic sampling across the ranks of `world`: each round every rank draws the tasks one
 * process would draw, generates its {@link rankSlice} of them on the streams one process would
 * use, and the ranks share which groups have unequal rewards, so every rank knows the groups one
 * process would keep (and when to stop) while each holds only those it generated. The trainer
 * then moves the kept groups to the ranks that train on them.
 */
export async function collectRolloutsAcrossRanks(
  ctx: RolloutContext,
  draw: (n: number) => Task[],
  step: number,
  world: World,
): Promise<RankRollout> {
  const { prompts_per_step: b, dynamic_sampling: ds } = ctx.config.rollout;
  const out: RankRollout = {
    generated: [],
    generatedAt: [],
    generatedTotal: 0,
    kept: [],
    keptBy: [],
    extraBatches: 0,
    droppedGroups: 0,
    generateS: 0,
    rewardS: 0,
  };
  for (let attempt = 0; ; attempt++) {
    const need = b - out.kept.length;
    const tasks = draw(need);
    const [first, end] = rankSlice(need, world.rank, world.size);
    const own = await rolloutTasks(ctx, tasks.slice(first, end), rolloutSeed(ctx, step, attempt), first);
    out.generateS += own.generateS;
    out.rewardS += own.rewardS;
    const at = own.groups.map((_, i) => first + i);
    // Each group's generating rank + 1 where its rewards differ, 0 where they are all equal.
    const spread = await gatherByIndex(
      world,
      own.groups.map((g) => (hasSpread(g) ? world.rank + 1 : 0)),
      at,
      need,
      "dynamic sampling's kept groups",
    );
    out.generated.push(...own.groups);
    out.generatedAt.push(...at.map((i) => out.generatedTotal + i));
    spread.forEach((by, i) => {
      if (by > 0) {
        out.kept.push(out.generatedTotal + i);
        out.keptBy.push(by - 1);
      }
    });
    out.generatedTotal += need;
    if (out.kept.length >= b || attempt >= ds.max_extra_batches) break;
    out.extraBatches++;
  }
  out.droppedGroups = out.generatedTotal - out.kept.length;
  return out;
}

/**
 * The rollout batch of `step`: `draw(n)` supplies the next n tasks. With dynamic sampling on,
 * groups whose rewards are all equal are dropped and up to `max_extra_batches` more batches of
 * prompts are drawn until B groups remain.
 */
export async function collectRollouts(
  ctx: RolloutContext,
  draw: (n: number) => Task[],
  step: number,
): Promise<RolloutBatch> {
  const { prompts_per_step: b, dynamic_sampling: ds } = ctx.config.rollout;
  const generated: RolloutGroup[] = [];
  const kept: RolloutGroup[] = [];
  let generateS = 0;
  let rewardS = 0;
  let extraBatches = 0;
  for (let attempt = 0; ; attempt++) {
    const need = ds.enabled ? b - kept.length : b;
    const out = await rolloutTasks(ctx, draw(need), rolloutSeed(ctx, step, attempt));
    generateS += out.generateS;
    rewardS += out.rewardS;
    generated.push(...out.groups);
    kept.push(...(ds.enabled ? out.groups.filter(hasSpread) : out.groups));
    if (!ds.enabled || kept.length >= b || attempt >= ds.max_extra_batches) break;
    extraBatches++;
  }
  return {
    groups: kept.slice(0, b),
    generated,
    extraBatches,
    droppedGroups: ds.enabled ? generated.length - kept.length : 0,
    generateS,
    rewardS,
  };
}
