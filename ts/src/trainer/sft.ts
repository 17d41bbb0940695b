/**
 * Supervised fine-tuning (`lgpo-run sft`): each step is one optimizer step of token-mean
 * cross-entropy on the response tokens of a batch of examples. It runs through the core's `pg`
 * objective with every advantage 1, whose loss −(1/N) Σ log π(y_t) is exactly that cross-entropy,
 * so SFT and RL share one training path, and the run directory, checkpoints, eval, resume and
 * signals of RL training. In a data-parallel job each rank trains on its slice of every batch and
 * the core reduces the token-mean over the whole batch, so the ranks take one process's steps.
 */
import { ConfigError } from "../config/load.js";
import type { RunConfig } from "../config/schema.js";
import { PromptStream, ListSource } from "../data/prompt_stream.js";
import { loadSftExamples, type SftExample } from "../data/sft_examples.js";
import { rankSlice } from "../distributed/slice.js";
import { slowest } from "./data_parallel.js";
import { openSession, type RunOptions, type RunSummary, runLength, runSteps, type Session } from "./session.js";

/** The SFT objective: policy gradient with A = 1 is cross-entropy on the response tokens. */
const CROSS_ENTROPY = { name: "pg", aggregation: "token-mean" } as const;

/** One SFT step: a batch, one optimizer step; returns its metrics line. */
async function sftStep(s: Session, stream: PromptStream<SftExample>): Promise<Record<string, number>> {
  const t0 = performance.now();
  const batch = stream.take(s.config.sft.batch_size);
  const { world } = s;
  const [first, end] = rankSlice(batch.length, world.rank, world.size);
  const local = batch.slice(first, end);
  const { metrics } = await world.guard(
    s.policy.trainStep({ sequences: local, advantages: local.map(() => 1) }, CROSS_ENTROPY),
    `step ${s.state.step + 1}'s update`,
  );
  const { state } = s;
  state.nonfiniteStreak = metrics.skipped_nonfinite ? state.nonfiniteStreak + 1 : 0;
  state.step++;
  state.cursor = stream.position();
  state.optimizerSteps = s.policy.optimizerSteps;
  let stepS = (performance.now() - t0) / 1000;
  // Across ranks: the slowest rank's time, and its seconds in the core's collectives.
  let commS = metrics.comm_s ?? 0;
  if (world.size > 1) [stepS, commS] = (await slowest(world, [stepS, commS])) as [number, number];
  state.wallS += stepS;
  const line: Record<string, number> = {
    step: state.step,
    time: Date.now() / 1000,
    epoch: stream.epochs(),
    loss: metrics.loss!,
    tokens: batch.reduce((a, e) => a + e.responseIds.length, 0),
    grad_norm: metrics.grad_norm!,
    lr: metrics.lr!,
    optimizer_steps: metrics.step!,
    "skipped/nonfinite": metrics.skipped_nonfinite!,
    "time/step_s": stepS,
    ...(world.size > 1 ? { "time/comm_s": commS } : {}),
  };
  s.logs.metrics(line as Record<string, number> & { step: number });
  return line;
}

/**
 * Fine-tunes `config.model` on `config.sft.dataset` (see docs/config.md, section `sft`); resolves to
 * the run's summary. Errors and signals behave as in {@link train}.
 */
export async function sft(config: RunConfig, options: RunOptions = {}): Promise<RunSummary> {
  let examples: SftExample[] = [];
  let dropped = "";
  const { session, steps } = await openSession(
    config,
    options,
    async (c) => {
      if (c.sft.dataset === null) throw new ConfigError("sft.dataset is required by `lgpo-run sft`");
      // The tokenizer is needed to read the examples: load it from the checkpoint directory alone.
      const { Tokenizer } = await import("../sdk/tokenizer.js");
      const { resolveModel } = await import("../hub/model.js");
      const dir = await resolveModel(c.model.path, c.model.revision === null ? {} : { revision: c.model.revision });
      const loaded = await loadSftExamples(c.sft.dataset, Tokenizer.fromDir(dir), {
        format: c.sft.format,
        maxLength: c.sft.max_length,
        appendEos: c.sft.append_eos,
        badLines: c.data.bad_lines,
        limit: c.data.limit,
      });
      examples = loaded.examples;
      if (loaded.tooLong || loaded.skipped) {
        dropped = `dropped ${loaded.tooLong} examples longer than sft.max_length and ${loaded.skipped} malformed ones${loaded.firstProblem ? ` (first: ${loaded.firstProblem})` : ""}`;
      }
      const steps = runLength(c, examples.length, c.sft.batch_size);
      return { steps, optimizerSteps: steps };
    },
    "sft",
  );
  if (dropped) session.note(`warning: ${dropped}`);
  const stream = new PromptStream(
    new ListSource(examples, session.config.seed, session.config.data.shuffle),
    session.state.cursor,
  );
  return runSteps(session, steps, options, () => sftStep(session, stream));
}
