/**
 * Evaluation: per benchmark, average pass@1 over k samples per problem (the paper's avg@8) and
 * greedy accuracy. The same random streams are used at every eval of a run, so differences
 * between evals come from the policy, not the sampler.
 */
import type { BenchmarkTasks } from "../data/load.js";
import { type PromptTemplate, renderPrompt } from "../data/prompts.js";
import { rewardReference } from "../data/tasks.js";
import type { RewardFunction } from "../rewards/types.js";
import type { Policy } from "../sdk/policy.js";
import type { Tokenizer } from "../sdk/tokenizer.js";
import { hashSeed } from "../util/random.js";
import { gatherByIndex } from "../distributed/gather.js";
import { rankSlice } from "../distributed/slice.js";
import { SINGLE_PROCESS, type World } from "../distributed/world.js";

/** Sampling settings of one benchmark. */
export interface EvalSettings {
  /** A data-parallel job's ranks each score a slice of the problems (default: one process). */
  world?: World;
  /** k of avg@k; 0 skips sampling. */
  samples: number;
  greedy: boolean;
  temperature: number;
  topP: number;
  maxNewTokens: number;
  /** Rows generated together. */
  batchSize: number;
  /** Reward at or above which a sample counts as solved. */
  successThreshold: number;
}

/** What one benchmark scored. */
export interface BenchmarkScore {
  name: string;
  problems: number;
  /** Mean over problems of the fraction of the k samples that solved it. */
  avgAtK?: number;
  k?: number;
  greedy?: number;
}

/**
 * The fraction of `n` samples that solved each problem. In a data-parallel job each rank scores
 * its contiguous slice of the problems, every sample drawing the stream it has in the whole list,
 * and the ranks gather the fractions: the result is one process's.
 */
async function solvedFractions(
  policy: Policy,
  reward: RewardFunction,
  promptIds: number[][],
  references: Record<string, unknown>[],
  n: number,
  sampling: { temperature: number; topP: number; maxNewTokens: number; seed: number; batchSize: number },
  threshold: number,
  world: World,
): Promise<number[]> {
  const perCall = Math.max(1, Math.floor(sampling.batchSize / n));
  const [lo, hi] = rankSlice(promptIds.length, world.rank, world.size);
  const solved: number[] = [];
  for (let first = lo; first < hi; first += perCall) {
    const prompts = promptIds.slice(first, Math.min(first + perCall, hi));
    const generations = await policy.generate(prompts, {
      n,
      temperature: sampling.temperature,
      topP: sampling.topP,
      maxNewTokens: sampling.maxNewTokens,
      seed: sampling.seed,
      firstRow: first * n,
    });
    const { results } = await reward.score(
      generations.map((g, r) => ({ response: g.text, reference: references[first + Math.floor(r / n)]! })),
    );
    for (let i = 0; i < prompts.length; i++) {
      const mine = results.slice(i * n, (i + 1) * n);
      solved.push(mine.filter((x) => x.score >= threshold).length / n);
    }
  }
  if (world.size === 1) return solved;
  const indices = solved.map((_, i) => lo + i);
  return gatherByIndex(world, solved, indices, promptIds.length, "eval scores");
}

/** Scores one benchmark. */
export async function evaluateBenchmark(
  policy: Policy,
  tokenizer: Tokenizer,
  reward: RewardFunction,
  bench: BenchmarkTasks,
  template: PromptTemplate,
  system: string | null,
  settings: EvalSettings,
): Promise<BenchmarkScore> {
  const promptIds = bench.tasks.map((t) => tokenizer.encode(renderPrompt(t, template, tokenizer, system)));
  const references = bench.tasks.map(rewardReference);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const base = { maxNewTokens: settings.maxNewTokens, batchSize: settings.batchSize };
  const out: BenchmarkScore = { name: bench.name, problems: bench.tasks.length };
  const world = settings.world ?? SINGLE_PROCESS;
  if (settings.samples > 0) {
    const sampling = {
      ...base,
      temperature: settings.temperature,
      topP: settings.topP,
      seed: hashSeed(`eval:${bench.name}`),
    };
    out.k = settings.samples;
    out.avgAtK = mean(
      await solvedFractions(
        policy,
        reward,
        promptIds,
        references,
        settings.samples,
        sampling,
        settings.successThreshold,
        world,
      ),
    );
  }
  if (settings.greedy) {
    const sampling = { ...base, temperature: 0, topP: 1, seed: 0 };
    out.greedy = mean(
      await solvedFractions(policy, reward, promptIds, references, 1, sampling, settings.successThreshold, world),
    );
  }
  return out;
}

/** Metric keys of a score: `eval/<name>/avg@k` and `eval/<name>/greedy`. */
export function evalMetrics(score: BenchmarkScore): Record<string, number> {
  const m: Record<string, number> = {};
  if (score.avgAtK !== undefined) m[`eval/${score.name}/avg@${score.k}`] = score.avgAtK;
  if (score.greedy !== undefined) m[`eval/${score.name}/greedy`] = score.greedy;
  return m;
}
