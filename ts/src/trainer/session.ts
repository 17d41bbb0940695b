/**
 * What RL training (`train`) and supervised fine-tuning (`sft`) share: opening a run directory
 * (new, or resumed from its newest checkpoint), the policy with its optimizer state, eval at
 * start / every k steps / at the end, checkpoints, signals and the run summary. Each command
 * supplies only its step.
 */
import { join } from "node:path";

import { ConfigError, resolveConfig } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { type BenchmarkTasks, loadBenchmarks } from "../data/load.js";
import { resolveTemplate } from "../data/prompts.js";
import { ConsoleReporter } from "../logging/console.js";
import type { RewardFunction } from "../rewards/types.js";
import { Policy } from "../sdk/policy.js";
import type { Tokenizer } from "../sdk/tokenizer.js";
import type { TrainConfig } from "../sdk/train_config.js";
import { latestCheckpoint, optimizerPath, removeStaleStaging, saveCheckpoint } from "./checkpoint.js";
import { evalMetrics, evaluateBenchmark } from "./eval.js";
import { buildReward } from "./reward.js";
import { defaultRunDir, holdsRun, RunLogs, runConfigText } from "./run_dir.js";
import { checkResumeConfig } from "./resume_check.js";
import { initialState, type TrainerState } from "./state.js";
import { RUN_FILES } from "../logging/run_layout.js";
import { SINGLE_PROCESS, type World } from "../distributed/world.js";

/** Options shared by {@link train} and {@link sft}. */
export interface RunOptions {
  /** Run directory; overrides `config.run_dir`. */
  runDir?: string;
  /** Continue the run in `runDir` from its newest checkpoint. */
  resume?: boolean;
  /**
   * Resume even though the config differs from the run's outside the keys a resume may change
   * (trainer.steps / epochs, eval, logging, checkpoint, run_dir); without it that is an error.
   */
  force?: boolean;
  /** Called after every step with its metrics line. */
  onStep?: (metrics: Record<string, number>) => void;
  /** Called after every eval with its metrics line. */
  onEval?: (metrics: Record<string, number>) => void;
  /** Aborting finishes the current step, writes a checkpoint and resolves with status "stopped". */
  signal?: AbortSignal;
  /** Console notes (data warnings, eval results); default: the progress reporter's. */
  log?: (message: string) => void;
  /**
   * The data-parallel job this process is a rank of (`initWorld()`; default: one process). Every
   * rank runs the same config; rank 0 alone writes the run directory.
   */
  world?: World;
}

/** What a run resolves to (also written to RUN_DIR/summary.json). */
export interface RunSummary {
  status: "completed" | "stopped";
  runDir: string;
  steps: number;
  optimizerSteps: number;
  wallS: number;
  /** The last step's metrics line. */
  final: Record<string, number> | null;
  eval: { initial: Record<string, number> | null; final: Record<string, number> | null };
}

/** A run that had to stop (non-finite losses in a row): the CLI exits 1. */
export class TrainingError extends Error {
  override readonly name = "TrainingError";
}

/** An open run: the policy, its logs and state, and the eval benchmarks. */
export interface Session {
  config: RunConfig;
  policy: Policy;
  tokenizer: Tokenizer;
  state: TrainerState;
  /** The newest checkpoint's directory when resumed. */
  resumedFrom: string | undefined;
  logs: RunLogs;
  reporter: ConsoleReporter;
  note: (message: string) => void;
  benchmarks: BenchmarkTasks[];
  evalRewards: Map<string, RewardFunction>;
  /** Closed when the run ends (rewards, extra policies). */
  closers: (() => Promise<void> | void)[];
  world: World;
}

/** The core's training settings for a config (`optimizerSteps` sizes a cosine schedule). */
function coreTrainConfig(config: RunConfig, optimizerSteps: number, kind: "rl" | "sft"): TrainConfig {
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
    activation_checkpointing: t.activation_checkpointing,
    // The objective sees log-probs of the distribution the rollouts were sampled from (verl and
    // TRL divide the logits by the rollout temperature too; the core scores greedy rollouts, 0,
    // at 1); SFT's cross-entropy is of the model itself: 1.
    logprob_temperature: kind === "rl" ? config.rollout.temperature : 1,
    seed: config.seed,
  };
}

/**
 * Policy.load options of a config; `fromHub` adds `model.revision` (not for checkpoint
 * directories); `kind` "sft" scores at temperature 1 whatever `rollout.temperature` says.
 */
export function loadOptions(config: RunConfig, optimizerSteps: number, fromHub: boolean, kind: "rl" | "sft" = "rl") {
  return {
    device: config.model.device as "cpu",
    ...(config.model.dtype === "auto" ? {} : { dtype: config.model.dtype }),
    seed: config.seed,
    train: coreTrainConfig(config, optimizerSteps, kind),
    ...(fromHub && config.model.revision !== null ? { revision: config.model.revision } : {}),
  };
}

/** Steps of a run: `trainer.steps`, or `trainer.epochs` passes over `examples` in batches of `batch`. */
export function runLength(config: RunConfig, examples: number, batch: number): number {
  const { steps, epochs } = config.trainer;
  if ((steps === null) === (epochs === null))
    throw new ConfigError("set exactly one of trainer.steps and trainer.epochs");
  return steps ?? Math.max(1, Math.ceil((epochs! * examples) / batch));
}

/**
 * The run directory (rank 0's, in a data-parallel job: the ranks' clocks may name different
 * default directories) and, on resume, its newest checkpoint; a resume may not change what the
 * run computes (unless forced), checked before anything loads.
 */
async function locateRun(config: RunConfig, options: RunOptions, label: string, world: World) {
  const own = options.runDir ?? config.run_dir ?? defaultRunDir(label);
  const runDir = world.size > 1 ? await world.broadcastText(own, "the run directory") : own;
  const resumeFrom = options.resume ? latestCheckpoint(runDir) : undefined;
  if (options.resume && resumeFrom === undefined) {
    throw new ConfigError(`--resume ${runDir}: the run has no complete checkpoint`);
  }
  const forcedChanges = resumeFrom
    ? checkResumeConfig(runConfigText(runDir), join(runDir, RUN_FILES.config), config, options.force ?? false)
    : [];
  if (!options.resume && world.rank === 0 && holdsRun(runDir)) {
    throw new ConfigError(`${runDir} already holds a run; use --resume to continue it, or another --run-dir`);
  }
  return { runDir, resumeFrom, forcedChanges };
}

/**
 * Opens a run: checks the run directory, loads the benchmarks, then the policy (from the newest
 * checkpoint with its optimizer state on resume), and writes the resolved config. `prepare` runs
 * after the config is resolved and before the policy loads: it reads the command's data, so a bad
 * file fails before anything is loaded or written, and returns the run's length in steps and
 * optimizer steps.
 */
export async function openSession(
  configIn: RunConfig,
  options: RunOptions,
  prepare: (config: RunConfig, benchmarks: BenchmarkTasks[]) => Promise<{ steps: number; optimizerSteps: number }>,
  kind: "rl" | "sft" = "rl",
): Promise<{ session: Session; steps: number }> {
  const config = resolveConfig(configIn);
  const world = options.world ?? SINGLE_PROCESS;
  const root = world.rank === 0;
  const label = kind === "sft" ? "sft" : config.objective.name;
  const { runDir, resumeFrom, forcedChanges } = await locateRun(config, options, label, world);
  const benchmarks = await loadBenchmarks(config);
  const { steps, optimizerSteps } = await prepare(config, benchmarks);
  const policy = resumeFrom
    ? await Policy.load(resumeFrom.dir, loadOptions(config, optimizerSteps, false, kind))
    : await Policy.load(config.model.path, loadOptions(config, optimizerSteps, true, kind));
  const closers: Session["closers"] = [() => policy.dispose()];
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
    // The prompt formats need the tokenizer: checked before the run directory gets any file.
    for (const task of new Set([config.data.task, ...config.eval.benchmarks.map((b) => b.task)])) {
      resolveTemplate(config.data.prompt.template, task, tokenizer);
    }
    const evalRewards = new Map<string, RewardFunction>();
    for (const b of config.eval.benchmarks) {
      if (!evalRewards.has(b.task)) {
        const reward = await buildReward({ ...config.reward, function: null }, b.task);
        evalRewards.set(b.task, reward);
        closers.push(() => reward.close());
      }
    }
    const reporter = new ConsoleReporter(root ? config.logging.progress : "none", label);
    // Rank 0 speaks for the job.
    const note = root ? (options.log ?? ((m: string) => reporter.note(m))) : () => {};
    if (resumeFrom) {
      if (root) removeStaleStaging(runDir);
      if (forcedChanges.length)
        note(`warning: resuming with a config that differs from the run's in ${forcedChanges.join(", ")} (--force)`);
      note(`resuming ${runDir} from ${resumeFrom.dir} (step ${state.step})`);
    }
    const logs = root ? RunLogs.open(runDir, config, resumeFrom ? state.step : undefined) : RunLogs.ofOtherRank(runDir);
    const session: Session = {
      config,
      policy,
      tokenizer,
      state,
      resumedFrom: resumeFrom?.dir,
      logs,
      reporter,
      note,
      benchmarks,
      evalRewards,
      closers,
      world,
    };
    return { session, steps };
  } catch (e) {
    for (const close of closers.reverse()) await close();
    throw e;
  }
}

/** Evaluates every benchmark and logs one eval line at the current step. */
export async function evaluateSession(s: Session): Promise<Record<string, number>> {
  const { config } = s;
  const line: Record<string, number> = { step: s.state.step, time: 0 };
  const t0 = performance.now();
  for (const [i, b] of s.benchmarks.entries()) {
    const settings = config.eval.benchmarks[i]!;
    const score = await evaluateBenchmark(
      s.policy,
      s.tokenizer,
      s.evalRewards.get(settings.task)!,
      b,
      resolveTemplate(config.data.prompt.template, settings.task, s.tokenizer),
      config.data.prompt.system,
      {
        world: s.world,
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
  s.logs.metrics(line as Record<string, number> & { step: number });
  const scores = Object.entries(line)
    .filter(([k]) => k.startsWith("eval/"))
    .map(([k, v]) => `${k} ${v.toFixed(3)}`);
  s.note(`eval at step ${s.state.step}: ${scores.join(", ")}`);
  return line;
}

function evalScores(line: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(line).filter(([k]) => k.startsWith("eval/")));
}

async function checkpoint(s: Session): Promise<void> {
  // Every rank holds the same weights and optimizer state: rank 0 writes them.
  if (s.world.rank !== 0) return;
  const c = s.config.checkpoint;
  const dir = await saveCheckpoint(s.logs.dir, s.policy, s.state, { dtype: c.dtype, keepLast: c.keep_last });
  s.note(`checkpoint ${dir}`);
}

/**
 * Runs `step` until the run has `total` steps (or the signal stops it after the current step),
 * with eval and checkpoints at the configured intervals; writes summary.json; always closes the
 * session. `step` returns its metrics line (already logged) after advancing `state.step`.
 */
export async function runSteps(
  s: Session,
  total: number,
  options: RunOptions,
  step: () => Promise<Record<string, number>>,
): Promise<RunSummary> {
  const { state, config: c } = s;
  let stopped = options.signal?.aborted ?? false;
  const onAbort = () => {
    stopped = true;
    s.note(`stopping after step ${state.step + 1}: finishing it, then writing a checkpoint`);
  };
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let finalEval: Record<string, number> | null = null;
  let last: Record<string, number> | null = null;
  const evaluate = async () => {
    const line = await evaluateSession(s);
    options.onEval?.(line);
    return evalScores(line);
  };
  try {
    s.reporter.start(total, state.step);
    if (state.step === 0 && c.eval.at_start && s.benchmarks.length) state.initialEval = await evaluate();
    while (state.step < total && !stopped) {
      last = await step();
      // A signal may reach the ranks at different steps: they stop together, at the first.
      if (s.world.size > 1) stopped = (await s.world.allReduce([stopped ? 1 : 0], "max", "the stop flag"))[0] === 1;
      s.reporter.step(last, total);
      options.onStep?.(last);
      if (state.nonfiniteStreak >= c.trainer.max_nonfinite_in_a_row) {
        throw new TrainingError(
          `stopping: ${state.nonfiniteStreak} optimizer steps in a row had a non-finite loss or gradient (trainer.max_nonfinite_in_a_row = ${c.trainer.max_nonfinite_in_a_row}); the weights were left unchanged by them`,
        );
      }
      const done = state.step === total;
      if (c.eval.every > 0 && state.step % c.eval.every === 0 && !done && s.benchmarks.length)
        finalEval = await evaluate();
      if (c.checkpoint.every > 0 && state.step % c.checkpoint.every === 0 && !done && !stopped) await checkpoint(s);
    }
    const completed = state.step === total;
    if (completed && c.eval.at_end && s.benchmarks.length) finalEval = await evaluate();
    if (stopped || c.checkpoint.at_end) await checkpoint(s);
    const summary: RunSummary = {
      status: completed ? "completed" : "stopped",
      runDir: s.logs.dir,
      steps: state.step,
      optimizerSteps: state.optimizerSteps,
      wallS: state.wallS,
      final: last,
      eval: { initial: state.initialEval, final: finalEval },
    };
    s.logs.summary(summary);
    return summary;
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    s.reporter.end();
    for (const close of s.closers.reverse()) await close();
  }
}
