/**
 * The updates of one rollout batch (paper Algorithm 1, lines 3-12): old log-probs first when the
 * objective is ratio-based (LGPO never computes them), then N_updates optimizer steps on
 * consecutive minibatches of whole groups.
 */
import type { RunConfig } from "../config/schema.js";
import { groupAdvantages } from "../rollout/advantages.js";
import type { RolloutSample } from "../rollout/rollout.js";
import type { ObjectiveConfig, ObjectiveRequirements } from "../sdk/objectives.js";
import type { Policy, SequenceOutcome } from "../sdk/policy.js";

/** One training sequence with its advantage and sampling log-probs. */
export interface TrainSequence {
  promptIds: number[];
  responseIds: number[];
  advantage: number;
  /** Sampling log-probs from generation (old log-probs with `old_logprobs: generation`). */
  samplingLogprobs: number[];
  /** Per response token: forced by the task's format (`objective.gate.exclude_forced`). */
  forcedTokens?: boolean[];
}

/** The result of {@link updatePolicy}. */
export interface UpdateResult {
  /** The core's metrics of each optimizer step. */
  steps: Record<string, number>[];
  /** One outcome per sequence, in input order. */
  outcomes: SequenceOutcome[];
  oldLogprobS: number;
  /** Sequences the old-log-prob pass scored (0 when it did not run). */
  oldLogprobSequences: number;
  updateS: number;
}

/** The sequences of a rollout batch to train on, with group-relative advantages (and those advantages). */
export function trainSequences(
  batch: {
    groups: readonly { samples: readonly Pick<RolloutSample, "promptIds" | "tokens" | "logprobs" | "reward">[] }[];
  },
  rollout: RunConfig["rollout"],
): { sequences: TrainSequence[]; advantages: number[] } {
  const samples = batch.groups.flatMap((g) => g.samples);
  const advantages = groupAdvantages(
    samples.map((s) => s.reward),
    rollout.group_size,
    rollout.advantage.scale,
    rollout.advantage.eps,
  );
  const sequences = samples.map((s, i) => ({
    promptIds: s.promptIds,
    responseIds: s.tokens,
    advantage: advantages[i]!,
    samplingLogprobs: s.logprobs,
  }));
  return { sequences, advantages };
}

/** Splits `groups` whole groups into `parts` contiguous minibatches as evenly as possible. */
export function splitGroups(groups: number, parts: number): [number, number][] {
  const n = Math.min(parts, groups);
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++) out.push([Math.floor((i * groups) / n), Math.floor(((i + 1) * groups) / n)]);
  return out;
}

/**
 * Runs the optimizer steps of one rollout batch; `sequences` hold `groupSize` samples per group,
 * group after group. `parts`: the minibatches as ranges of groups, for a data-parallel rank
 * (its slices of the step's minibatches, some maybe empty); default: `trainer.n_updates` even ones.
 */
export async function updatePolicy(
  policy: Policy,
  sequences: readonly TrainSequence[],
  groupSize: number,
  objective: ObjectiveConfig,
  requirements: ObjectiveRequirements,
  config: RunConfig,
  parts: readonly (readonly [number, number])[] = splitGroups(sequences.length / groupSize, config.trainer.n_updates),
): Promise<UpdateResult> {
  let oldLogprobS = 0;
  let oldLogprobSequences = 0;
  let old: number[][] | undefined;
  const source = config.trainer.old_logprobs;
  if (requirements.needsOldLogprobs) {
    if (source === "generation") {
      old = sequences.map((s) => s.samplingLogprobs);
    } else {
      // skip_first: the first minibatch's old policy is the current one; it uses its own forward.
      const from = source === "skip_first" ? parts[0]![1] * groupSize : 0;
      // Sequences the update skips (A = 0) need no old log-probs: the pass scores only the others,
      // and the skipped ones get zeros, which no loss reads.
      const skipZero = config.trainer.skip_zero_advantage && requirements.skipsZeroAdvantage;
      const t0 = performance.now();
      const scored = sequences.slice(from).filter((s) => !skipZero || s.advantage !== 0);
      const scores = scored.length
        ? await policy.logprobs(
            scored.map((s) => ({ promptIds: s.promptIds, responseIds: s.responseIds })),
            { microBatchSize: config.trainer.micro_batch_size },
          )
        : [];
      oldLogprobSequences = scored.length;
      const byScored = new Map(scored.map((s, i) => [s, scores[i]!.logprobs]));
      old = sequences.map((s, i) =>
        i < from ? [] : (byScored.get(s) ?? new Array<number>(s.responseIds.length).fill(0)),
      );
      oldLogprobS = (performance.now() - t0) / 1000;
    }
  }
  const t0 = performance.now();
  const steps: Record<string, number>[] = [];
  const outcomes: SequenceOutcome[] = [];
  for (const [index, [first, end]] of parts.entries()) {
    const part = sequences.slice(first * groupSize, end * groupSize);
    const ownForward = old !== undefined && source === "skip_first" && index === 0;
    const result = await policy.trainStep(
      {
        sequences: part.map((s) => ({ promptIds: s.promptIds, responseIds: s.responseIds })),
        advantages: part.map((s) => s.advantage),
        ...(part.some((s) => s.forcedTokens)
          ? { forcedTokens: part.map((s) => s.forcedTokens ?? s.responseIds.map(() => false)) }
          : {}),
        ...(ownForward
          ? { oldIsCurrent: true }
          : old
            ? { oldLogprobs: old.slice(first * groupSize, end * groupSize) }
            : {}),
      },
      objective,
    );
    steps.push(result.metrics);
    outcomes.push(...result.sequences);
  }
  return { steps, outcomes, oldLogprobS, oldLogprobSequences, updateS: (performance.now() - t0) / 1000 };
}
