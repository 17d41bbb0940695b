/**
 * The RL training loop: the paper's Algorithm 1 as a product. Each rollout step samples prompts,
 * generates G responses each, scores them, computes group-relative advantages and runs N_updates
 * optimizer steps (LGPO with no old-policy pass); then it logs, evaluates and checkpoints at the
 * configured intervals. Everything a resume needs is one {@link TrainerState}, saved with each
 * checkpoint.
 */
import type { RunConfig } from "../config/schema.js";
import { loadTrainSource } from "../data/load.js";
import { PromptStream, type TaskSource } from "../data/prompt_stream.js";
import { type PromptTemplate, resolveTemplate } from "../data/prompts.js";
import { gatherByIndex } from "../distributed/gather.js";
import { SINGLE_PROCESS, type World } from "../distributed/world.js";
import {
  collectRolloutShare,
  collectRollouts,
  collectRolloutsAcrossRanks,
  type RolloutBatch,
  type RolloutContext,
} from "../rollout/rollout.js";
import type { RewardFunction } from "../rewards/types.js";
import { GateThreshold } from "../sdk/gate_threshold.js";
import {
  coreObjective,
  type ObjectiveConfig,
  type ObjectiveRequirements,
  objectiveRequirements,
} from "../sdk/objectives.js";
import { Policy } from "../sdk/policy.js";
import { klToInitial } from "./kl.js";
import { buildReward } from "./reward.js";
import {
  loadOptions,
  openSession,
  type RunOptions,
  type RunSummary,
  runLength,
  runSteps,
  type Session,
} from "./session.js";
import type { TrainerState } from "./state.js";
import {
  injectRankFault,
  localParts,
  planShare,
  type RankShare,
  sampleIndices,
  slowest,
  stepView,
} from "./data_parallel.js";
import { regroupKept } from "./regroup_kept.js";
import { gateMeans, gateMetrics, type StepGate } from "./step_gate.js";
import { rolloutMetrics, updateMetrics } from "./step_metrics.js";
import { trainSequences, updatePolicy } from "./updates.js";

/** Options of {@link train}. */
export interface TrainOptions extends RunOptions {
  /** A reward to use instead of the config's (SDK use). */
  reward?: RewardFunction;
}

/** What {@link train} resolves to (also written to RUN_DIR/summary.json). */
export type TrainSummary = RunSummary;

/** What the RL loop holds besides the session. */
interface Run {
  session: Session;
  config: RunConfig;
  state: TrainerState;
  objective: ObjectiveConfig;
  requirements: ObjectiveRequirements;
  reward: RewardFunction;
  template: PromptTemplate;
  stream: PromptStream;
  initial: Policy | undefined;
  /** LGPO's τ per step (gated objectives only). */
  gate: GateThreshold | undefined;
  world: World;
  /** This rank's prompts of each step (data-parallel jobs only; with dynamic sampling each step makes its own). */
  share: RankShare | undefined;
}

/** Opens the session and everything the RL step needs: prompts, reward, objective, KL reference. */
async function startRun(config: RunConfig, options: TrainOptions): Promise<{ run: Run; steps: number }> {
  let source: TaskSource | undefined;
  let skipped = { count: 0, first: undefined as string | undefined };
  const { session, steps } = await openSession(config, options, async (c, benchmarks) => {
    const train = await loadTrainSource(c, benchmarks);
    source = train.source;
    skipped = { count: train.skipped, first: train.firstProblem };
    const steps = runLength(c, train.source.size, c.rollout.prompts_per_step);
    return { steps, optimizerSteps: steps * c.trainer.n_updates };
  });
  try {
    const c = session.config;
    const world = options.world ?? SINGLE_PROCESS;
    const share = planShare(c, world);
    const requirements = objectiveRequirements(c.objective);
    const template = resolveTemplate(c.data.prompt.template, c.data.task, session.tokenizer);
    const reward = options.reward ?? (await buildReward(c.reward, c.data.task));
    session.closers.push(() => reward.close());
    const initial =
      c.trainer.kl_to_initial_every > 0 ? await Policy.load(c.model.path, loadOptions(c, 1, true)) : undefined;
    if (initial) session.closers.push(() => initial.dispose());
    if (skipped.count)
      session.note(`warning: skipped ${skipped.count} malformed dataset lines (first: ${skipped.first})`);
    const run: Run = {
      session,
      config: c,
      state: session.state,
      objective: c.objective,
      requirements,
      reward,
      template,
      stream: new PromptStream(source!, session.state.cursor),
      initial,
      gate: requirements.usesGate ? new GateThreshold(c.objective.gate, { tau: session.state.gateTau }) : undefined,
      world,
      share,
    };
    return { run, steps };
  } catch (e) {
    for (const close of session.closers.reverse()) await close();
    throw e;
  }
}

function meanOf(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/**
 * Sample lines of a step for samples.jsonl, from this process's samples (`means` per sample;
 * a data-parallel rank's prompts are numbered in the whole step by `share`).
 */
function sampleLines(
  run: Run,
  share: RankShare | undefined,
  batch: RolloutBatch,
  advantages: number[],
  gated: (boolean | null)[],
  means: number[] | undefined,
) {
  const limit = run.config.logging.samples_per_step;
  const lines: Record<string, unknown>[] = [];
  let i = 0;
  batch.groups.forEach((g, p) => {
    g.samples.forEach((s, k) => {
      if (lines.length < limit) {
        lines.push({
          step: run.state.step,
          prompt_index: share ? share.groups[p] : p,
          sample: k,
          prompt: g.prompt,
          response: s.text,
          reward: s.reward,
          advantage: advantages[i],
          mean_logprob: means?.[i] ?? meanOf(s.logprobs),
          gated: gated[i] ?? null,
          finish_reason: s.finishReason,
        });
      }
      i++;
    });
  });
  return lines;
}

/** What one step measured, for its metrics line. */
interface StepOutcome {
  batch: RolloutBatch;
  advantages: number[];
  /** Each sequence's gate outcome (null: not evaluated). */
  gated: (boolean | null)[];
  update: Awaited<ReturnType<typeof updatePolicy>>;
  gate: StepGate | undefined;
  kl: number | undefined;
  stepS: number;
}

/** The metrics line of the step just taken (`run.state` already counts it). */
function stepMetrics(
  run: Run,
  { batch, advantages, gated, update, gate, kl, stepS }: StepOutcome,
): Record<string, number> {
  const { config, state } = run;
  return {
    step: state.step,
    time: Date.now() / 1000,
    epoch: run.stream.epochs(),
    ...rolloutMetrics(batch, config.rollout.max_new_tokens, config.reward.success_threshold),
    ...updateMetrics(update, advantages),
    ...(gate ? gateMetrics(gate.tau, advantages, gated) : {}),
    ...(kl !== undefined ? { "kl/initial": kl } : {}),
    ...(config.rollout.dynamic_sampling.enabled
      ? { "dapo/extra_batches": batch.extraBatches, "dapo/dropped_groups": batch.droppedGroups }
      : {}),
    "time/generate_s": batch.generateS,
    "time/reward_s": batch.rewardS,
    "time/old_logprob_s": update.oldLogprobS,
    "time/update_s": update.updateS,
    "time/step_s": stepS,
  };
}

/** τ of the step from every sequence's ℓ̄ (a data-parallel rank's gathered from all ranks). */
async function chooseTau(
  run: Run,
  share: RankShare | undefined,
  sequences: Parameters<typeof gateMeans>[3],
): Promise<StepGate> {
  const { config, world } = run;
  const local = gateMeans(run.gate!, config.data.task, run.session.tokenizer, sequences);
  const g = config.rollout.group_size;
  const means = share
    ? await gatherByIndex(world, local, sampleIndices(share.groups, g), share.total * g, "gate statistics")
    : local;
  return { tau: run.gate!.threshold(means), means };
}

/** The step's rollout batch, and a data-parallel rank's share of the step. */
async function stepRollout(run: Run): Promise<{ batch: RolloutBatch; share: RankShare | undefined }> {
  const { config, state, world } = run;
  const ctx: RolloutContext = {
    policy: run.session.policy,
    tokenizer: run.session.tokenizer,
    reward: run.reward,
    template: run.template,
    config,
  };
  const draw = (n: number) => run.stream.take(n);
  if (!run.share) return { batch: await collectRollouts(ctx, draw, state.step), share: undefined };
  if (config.rollout.dynamic_sampling.enabled) {
    const rollout = await collectRolloutsAcrossRanks(ctx, draw, state.step, world);
    return regroupKept(world, config.trainer.n_updates, rollout);
  }
  return { batch: await collectRolloutShare(ctx, draw, state.step, run.share.ranges), share: run.share };
}

/** One rollout step: generate, reward, advantages, (old log-probs,) updates; returns its metrics line. */
async function trainStep(run: Run): Promise<Record<string, number>> {
  const { config, state, world } = run;
  await injectRankFault(world, state.step + 1);
  const t0 = performance.now();
  const { batch, share } = await stepRollout(run);
  const { sequences, advantages } = trainSequences(batch, config.rollout);
  const klDue = run.initial !== undefined && (state.step + 1) % config.trainer.kl_to_initial_every === 0;
  const kl = klDue ? await klToInitial(run.session.policy, run.initial!, sequences, config, world) : undefined;
  // No sequences on any rank (dynamic sampling dropped every group): no update, so no τ either.
  // A rank may hold none while others do: it still takes part in the step's collectives.
  const trains = share ? share.total > 0 : sequences.length > 0;
  const gate = run.gate && trains ? await chooseTau(run, share, sequences) : undefined;
  const objective = gate ? coreObjective(run.objective, gate.tau) : run.objective;
  const g = config.rollout.group_size;
  const update = trains
    ? await world.guard(
        updatePolicy(
          run.session.policy,
          sequences,
          g,
          objective,
          run.requirements,
          config,
          share ? localParts(share) : undefined,
        ),
        `step ${state.step + 1}'s updates`,
      )
    : { steps: [], outcomes: [], oldLogprobS: 0, oldLogprobSequences: 0, updateS: 0 };
  for (const m of update.steps) {
    state.nonfiniteStreak = m.skipped_nonfinite ? state.nonfiniteStreak + 1 : 0;
  }
  if (gate) {
    run.gate!.observe(gate.means, gate.tau);
    state.gateTau = run.gate!.state.tau;
  }
  state.step++;
  state.cursor = run.stream.position();
  state.optimizerSteps = run.session.policy.optimizerSteps;
  let stepS = (performance.now() - t0) / 1000;
  const gated = update.outcomes.map((o) => o.gated);
  let view = { batch, advantages, gated };
  // Seconds the core's step spent in collectives (the gradient all-reduce above all).
  let commS = update.steps.reduce((a, m) => a + (m.comm_s ?? 0), 0);
  if (share) {
    view = await stepView(world, share, config, view);
    const own = [batch.generateS, batch.rewardS, update.oldLogprobS, update.updateS, stepS, commS];
    [view.batch.generateS, view.batch.rewardS, update.oldLogprobS, update.updateS, stepS, commS] = (await slowest(
      world,
      own,
    )) as [number, number, number, number, number, number];
  }
  state.wallS += stepS;
  // The core's step metrics (update.steps) are the job's already.
  const metrics = stepMetrics(run, { ...view, update, gate, kl, stepS });
  if (share) metrics["time/comm_s"] = commS;
  run.session.logs.metrics(metrics as Record<string, number> & { step: number });
  const every = config.logging.samples_every;
  if (every > 0 && state.step % every === 0 && config.logging.samples_per_step > 0) {
    const at = share ? sampleIndices(share.groups, g) : undefined;
    const means = gate && at ? at.map((i) => gate.means[i]!) : gate?.means;
    run.session.logs.samples(sampleLines(run, share, batch, advantages, gated, means));
  }
  return metrics;
}

/**
 * Trains a policy as `config` says (see docs/config.md); resolves to the run's summary. Throws a
 * ConfigError (bad config), an Error naming the bad file (model, data), or a TrainingError (the
 * run had to stop). Aborting `options.signal` stops cleanly after the current step.
 */
export async function train(config: RunConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  const { run, steps } = await startRun(config, options);
  return runSteps(run.session, steps, options, () => trainStep(run));
}
