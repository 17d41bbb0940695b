/**
 * The RL training loop: the paper's Algorithm 1 as a product. Each rollout step samples prompts,
 * generates G responses each, scores them, computes group-relative advantages and runs N_updates
 * optimizer steps (LGPO with no old-policy pass); then it logs, evaluates and checkpoints at the
 * configured intervals. Everything a resume needs is one {@link TrainerState}, saved with each
 * checkpoint.
 */
import { ConfigError, resolveConfig } from "../config/load.js";
import type { TrainConfig } from "../config/schema.js";
import { type BenchmarkTasks, loadBenchmarks, loadTrainSource } from "../data/load.js";
import { PromptStream, type TaskSource } from "../data/prompt_stream.js";
import { type PromptTemplate, resolveTemplate } from "../data/prompts.js";
import { ConsoleReporter } from "../logging/console.js";
import { groupAdvantages } from "../rollout/advantages.js";
import { collectRollouts, type RolloutBatch, type RolloutContext } from "../rollout/rollout.js";
import type { RewardFunction } from "../rewards/types.js";
import { type ObjectiveConfig, type ObjectiveRequirements, objectiveRequirements } from "../sdk/objectives.js";
import { Policy } from "../sdk/policy.js";
import type { Tokenizer } from "../sdk/tokenizer.js";
import { latestCheckpoint, optimizerPath, removeStaleStaging, saveCheckpoint } from "./checkpoint.js";
import { evalMetrics, evaluateBenchmark } from "./eval.js";
import { klToInitial } from "./kl.js";
import { buildReward } from "./reward.js";
import { defaultRunDir, holdsRun, RunLogs } from "./run_dir.js";
import { configHash, initialState, type TrainerState } from "./state.js";
import { rolloutMetrics, updateMetrics } from "./step_metrics.js";
import { type TrainSequence, updatePolicy } from "./updates.js";

/** Options of {@link train}. */
export interface TrainOptions {
  /** Run directory; overrides `config.run_dir`. */
  runDir?: string;
  /** Continue the run in `runDir` from its newest checkpoint. */
  resume?: boolean;
  /** Called after every training step with its metrics line. */
  onStep?: (metrics: Record<string, number>) => void;
  /** Called after every eval with its metrics line. */
  onEval?: (metrics: Record<string, number>) => void;
  /** Aborting finishes the current step, writes a checkpoint and resolves with status "stopped". */
  signal?: AbortSignal;
  /** A reward to use instead of the config's (SDK use). */
  reward?: RewardFunction;
  /** Console notes (data warnings, eval results); default: the progress reporter's. */
  log?: (message: string) => void;
}

/** What {@link train} resolves to (also written to RUN_DIR/summary.json). */
export interface TrainSummary {
  status: "completed" | "stopped";
  runDir: string;
  steps: number;
  optimizerSteps: number;
  wallS: number;
  /** The last training step's metrics line. */
  final: Record<string, number> | null;
  eval: { initial: Record<string, number> | null; final: Record<string, number> | null };
}

/** A run that had to stop (non-finite losses in a row): the CLI exits 1. */
export class TrainingError extends Error {
  override readonly name = "TrainingError";
}

/** Everything the loop holds for the length of a run. */
interface Run {
  config: TrainConfig;
  policy: Policy;
  tokenizer: Tokenizer;
  objective: ObjectiveConfig;
  requirements: ObjectiveRequirements;
  reward: RewardFunction;
  evalRewards: Map<string, RewardFunction>;
  template: PromptTemplate;
  stream: PromptStream;
  benchmarks: BenchmarkTasks[];
  initial: Policy | undefined;
  logs: RunLogs;
  reporter: ConsoleReporter;
  note: (message: string) => void;
  state: TrainerState;
  totalSteps: number;
}

/** Rollout steps of a run: `trainer.steps`, or epochs over the training prompts. */
export function totalSteps(config: TrainConfig, source: TaskSource): number {
  if (config.trainer.steps !== null) return config.trainer.steps;
  return Math.max(1, Math.ceil(((config.trainer.epochs ?? 1) * source.size) / config.rollout.prompts_per_step));
}

/** The core's training settings for a config. */
function coreTrainConfig(config: TrainConfig, optimizerSteps: number) {
  const t = config.trainer;
  const schedule =
    t.schedule.kind === "constant"
      ? { kind: "constant" as const }
      : t.schedule.kind === "linear_warmup"
        ? { kind: "linear_warmup" as const, warmup_steps: t.schedule.warmup_steps }
        : {
            kind: "cosine" as const,
            warmup_steps: t.schedule.warmup_steps,
            total_steps: Math.max(optimizerSteps, t.schedule.warmup_steps + 1),
            min_ratio: t.schedule.min_ratio,
          };
  return {
    optimizer: t.optimizer,
    schedule,
    max_grad_norm: t.max_grad_norm,
    micro_batch_size: t.micro_batch_size,
    skip_zero_advantage: t.skip_zero_advantage,
    seed: config.seed,
  };
}

function loadOptions(config: TrainConfig, optimizerSteps: number) {
  return {
    device: config.model.device as "cpu",
    ...(config.model.dtype === "auto" ? {} : { dtype: config.model.dtype }),
    seed: config.seed,
    train: coreTrainConfig(config, optimizerSteps),
  };
}

function revisionOf(config: TrainConfig): { revision?: string } {
  return config.model.revision === null ? {} : { revision: config.model.revision };
}

/** Loads the data, the policy (from the newest checkpoint on resume) and opens the run directory. */
async function startRun(configIn: TrainConfig, options: TrainOptions): Promise<Run> {
  const config = resolveConfig(configIn);
  const runDir = options.runDir ?? config.run_dir ?? defaultRunDir(config);
  const resumeFrom = options.resume ? latestCheckpoint(runDir) : undefined;
  if (options.resume && resumeFrom === undefined) {
    throw new ConfigError(`--resume ${runDir}: the run has no complete checkpoint`);
  }
  if (!options.resume && holdsRun(runDir)) {
    throw new ConfigError(`${runDir} already holds a run; use --resume to continue it, or another --run-dir`);
  }
  // Data first: a bad file fails before the model is loaded or anything is written.
  const benchmarks = await loadBenchmarks(config);
  const train = await loadTrainSource(config, benchmarks);
  const steps = totalSteps(config, train.source);
  const requirements = objectiveRequirements(config.objective as ObjectiveConfig);
  const policy = await Policy.load(
    resumeFrom?.dir ?? config.model.path,
    loadOptions(config, steps * config.trainer.n_updates),
  );
  try {
    const state = resumeFrom?.state ?? initialState(config);
    if (resumeFrom) {
      await policy.loadOptimizer(optimizerPath(resumeFrom.dir));
      if (policy.optimizerSteps !== state.optimizerSteps) {
        throw new Error(
          `${resumeFrom.dir}: optimizer state has ${policy.optimizerSteps} steps, trainer state ${state.optimizerSteps}`,
        );
      }
    }
    const tokenizer = policy.tokenizer;
    if (tokenizer === undefined) throw new ConfigError(`${config.model.path}: the checkpoint has no tokenizer files`);
    const template = resolveTemplate(config.data.prompt.template, config.data.task, tokenizer);
    const reward = options.reward ?? (await buildReward(config.reward, config.data.task));
    const evalRewards = new Map<string, RewardFunction>();
    for (const b of config.eval.benchmarks) {
      if (!evalRewards.has(b.task)) {
        evalRewards.set(
          b.task,
          b.task === config.data.task ? reward : await buildReward({ ...config.reward, function: null }, b.task),
        );
      }
    }
    const initial =
      config.trainer.kl_to_initial_every > 0
        ? await Policy.load(config.model.path, { ...loadOptions(config, 1), ...revisionOf(config) })
        : undefined;
    const reporter = new ConsoleReporter(config.logging.progress, config.objective.name);
    const note = options.log ?? ((m: string) => reporter.note(m));
    if (resumeFrom) {
      removeStaleStaging(runDir);
      if (state.configHash !== configHash(config))
        note(`warning: the config differs from the checkpoint's run (${runDir})`);
      note(`resuming ${runDir} from ${resumeFrom.dir} (step ${state.step})`);
    }
    if (train.skipped) note(`warning: skipped ${train.skipped} malformed dataset lines (first: ${train.firstProblem})`);
    const logs = RunLogs.open(runDir, config, resumeFrom ? state.step : undefined);
    return {
      config,
      policy,
      tokenizer,
      objective: config.objective as ObjectiveConfig,
      requirements,
      reward,
      evalRewards,
      template,
      stream: new PromptStream(train.source, state.cursor),
      benchmarks,
      initial,
      logs,
      reporter,
      note,
      state,
      totalSteps: steps,
    };
  } catch (e) {
    policy.dispose();
    throw e;
  }
}

/** The sequences to train on, with group-relative advantages. */
function advantagesOf(run: Run, batch: RolloutBatch): { sequences: TrainSequence[]; advantages: number[] } {
  const { rollout } = run.config;
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

function meanOf(xs: readonly number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** Sample lines of a step for samples.jsonl. */
function sampleLines(run: Run, batch: RolloutBatch, advantages: number[], gated: (boolean | null)[]) {
  const limit = run.config.logging.samples_per_step;
  const lines: Record<string, unknown>[] = [];
  let i = 0;
  batch.groups.forEach((g, p) => {
    g.samples.forEach((s, k) => {
      if (lines.length < limit) {
        lines.push({
          step: run.state.step,
          prompt_index: p,
          sample: k,
          prompt: g.prompt,
          response: s.text,
          reward: s.reward,
          advantage: advantages[i],
          mean_logprob: meanOf(s.logprobs),
          gated: gated[i] ?? null,
          finish_reason: s.finishReason,
        });
      }
      i++;
    });
  });
  return lines;
}

/** One rollout step: generate, reward, advantages, (old log-probs,) updates; returns its metrics line. */
async function trainStep(run: Run): Promise<Record<string, number>> {
  const { config, state } = run;
  const t0 = performance.now();
  const ctx: RolloutContext = {
    policy: run.policy,
    tokenizer: run.tokenizer,
    reward: run.reward,
    template: run.template,
    config,
  };
  const batch = await collectRollouts(ctx, (n) => run.stream.take(n), state.step);
  const { sequences, advantages } = advantagesOf(run, batch);
  const klDue = run.initial !== undefined && (state.step + 1) % config.trainer.kl_to_initial_every === 0;
  const kl = klDue ? await klToInitial(run.policy, run.initial!, sequences, config) : undefined;
  const update =
    sequences.length > 0
      ? await updatePolicy(run.policy, sequences, config.rollout.group_size, run.objective, run.requirements, config)
      : { steps: [], outcomes: [], oldLogprobS: 0, updateS: 0 };
  for (const m of update.steps) {
    state.nonfiniteStreak = m.skipped_nonfinite ? state.nonfiniteStreak + 1 : 0;
  }
  state.step++;
  state.cursor = run.stream.position();
  state.optimizerSteps = run.policy.optimizerSteps;
  const stepS = (performance.now() - t0) / 1000;
  state.wallS += stepS;
  const metrics: Record<string, number> = {
    step: state.step,
    time: Date.now() / 1000,
    epoch: run.stream.epochs(),
    ...rolloutMetrics(batch, config.rollout.max_new_tokens, config.reward.success_threshold),
    ...updateMetrics(update, advantages),
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
  run.logs.metrics(metrics as Record<string, number> & { step: number });
  const every = config.logging.samples_every;
  if (every > 0 && state.step % every === 0 && config.logging.samples_per_step > 0) {
    run.logs.samples(
      sampleLines(
        run,
        batch,
        advantages,
        update.outcomes.map((o) => o.gated),
      ),
    );
  }
  return metrics;
}

/** Evaluates every benchmark and logs one eval line at the current step. */
async function evaluate(run: Run): Promise<Record<string, number>> {
  const { config } = run;
  const line: Record<string, number> = { step: run.state.step, time: 0 };
  const t0 = performance.now();
  for (const [i, b] of run.benchmarks.entries()) {
    const settings = config.eval.benchmarks[i]!;
    const score = await evaluateBenchmark(
      run.policy,
      run.tokenizer,
      run.evalRewards.get(settings.task)!,
      b,
      resolveTemplate(config.data.prompt.template, settings.task, run.tokenizer),
      config.data.prompt.system,
      {
        samples: settings.samples,
        greedy: settings.greedy,
        temperature: settings.temperature,
        topP: settings.top_p,
        maxNewTokens: settings.max_new_tokens ?? config.rollout.max_new_tokens,
        batchSize: config.eval.batch_size,
        successThreshold: config.reward.success_threshold,
      },
    );
    Object.assign(line, evalMetrics(score));
  }
  line.time = Date.now() / 1000;
  line["time/eval_s"] = (performance.now() - t0) / 1000;
  run.logs.metrics(line as Record<string, number> & { step: number });
  const scores = Object.entries(line)
    .filter(([k]) => k.startsWith("eval/"))
    .map(([k, v]) => `${k} ${v.toFixed(3)}`);
  run.note(`eval at step ${run.state.step}: ${scores.join(", ")}`);
  return line;
}

function evalScores(line: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(line).filter(([k]) => k.startsWith("eval/")));
}

async function checkpoint(run: Run): Promise<void> {
  const c = run.config.checkpoint;
  const dir = await saveCheckpoint(run.logs.dir, run.policy, run.state, { dtype: c.dtype, keepLast: c.keep_last });
  run.note(`checkpoint ${dir}`);
}

async function closeRun(run: Run): Promise<void> {
  run.reporter.end();
  const rewards = new Set([run.reward, ...run.evalRewards.values()]);
  for (const r of rewards) await r.close();
  run.initial?.dispose();
  run.policy.dispose();
}

/**
 * Trains a policy as `config` says (see docs/config.md); resolves to the run's summary. Throws a
 * ConfigError (bad config), an Error naming the bad file (model, data), or a TrainingError (the
 * run had to stop). Aborting `options.signal` stops cleanly after the current step.
 */
export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  const run = await startRun(config, options);
  const { state } = run;
  const c = run.config;
  let stopped = options.signal?.aborted ?? false;
  const onAbort = () => {
    stopped = true;
    run.note(`stopping after step ${state.step + 1}: finishing it, then writing a checkpoint`);
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let finalEval: Record<string, number> | null = null;
  let last: Record<string, number> | null = null;
  try {
    run.reporter.start(run.totalSteps, state.step);
    if (state.step === 0 && c.eval.at_start && run.benchmarks.length) {
      const line = await evaluate(run);
      state.initialEval = evalScores(line);
      options.onEval?.(line);
    }
    while (state.step < run.totalSteps && !stopped) {
      last = await trainStep(run);
      run.reporter.step(last, run.totalSteps);
      options.onStep?.(last);
      if (state.nonfiniteStreak >= c.trainer.max_nonfinite_in_a_row) {
        throw new TrainingError(
          `stopping: ${state.nonfiniteStreak} optimizer steps in a row had a non-finite loss or gradient (trainer.max_nonfinite_in_a_row = ${c.trainer.max_nonfinite_in_a_row}); the weights were left unchanged by them`,
        );
      }
      const done = state.step === run.totalSteps;
      if (c.eval.every > 0 && state.step % c.eval.every === 0 && !done && run.benchmarks.length) {
        const line = await evaluate(run);
        finalEval = evalScores(line);
        options.onEval?.(line);
      }
      if (c.checkpoint.every > 0 && state.step % c.checkpoint.every === 0 && !done && !stopped) await checkpoint(run);
    }
    const completed = state.step === run.totalSteps;
    if (completed && c.eval.at_end && run.benchmarks.length) {
      const line = await evaluate(run);
      finalEval = evalScores(line);
      options.onEval?.(line);
    }
    if (stopped || c.checkpoint.at_end) await checkpoint(run);
    const summary: TrainSummary = {
      status: completed ? "completed" : "stopped",
      runDir: run.logs.dir,
      steps: state.step,
      optimizerSteps: state.optimizerSteps,
      wallS: state.wallS,
      final: last,
      eval: { initial: state.initialEval, final: finalEval },
    };
    run.logs.summary(summary);
    return summary;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    await closeRun(run);
  }
}
