/** `lgpo-run bench`: benchmarks of lgpo's heavy calls, one subcommand each (generate, step). */
import { type Command, Option } from "commander";

import {
  BENCH_SHAPE_NAMES,
  type GenerateBenchOptions,
  type GenerateBenchResult,
  benchGenerate,
  benchStep,
  cellLabel,
  STEP_SHAPES,
  type StepBenchOptions,
  type StepBenchReport,
} from "../bench/index.js";
import type { GateMode } from "../sdk/gate_threshold.js";
import { integer, integerList } from "./options.js";

type GenerateBenchCliOptions = GenerateBenchOptions & { json: boolean };
type StepBenchCliOptions = Omit<StepBenchOptions, "size" | "gate"> & {
  json: boolean;
  gate: string;
  excludeForced: boolean;
  prompts?: number;
  groupSize?: number;
  newTokens?: number;
  promptLen?: number;
};

/** Adds the `bench` command group to `cli`. */
export function registerBench(cli: Command): void {
  const bench = cli.command("bench").description("measure lgpo's throughput on random checkpoints of fixed shapes");
  bench
    .command("generate")
    .description(
      "generation throughput: new tokens per second of Policy.generate, sampling at temperature 1 with no stop id " +
        "(every row runs to --new-tokens), median over --repeats after a warm-up",
    )
    .addOption(
      new Option("--shape <shape>", "tiny: d 64, 2 layers, Qwen2.5 vocabulary; half: Qwen2.5-0.5B with 2 layers")
        .choices(BENCH_SHAPE_NAMES)
        .default("tiny"),
    )
    .option("--rows <list>", "batch sizes to measure, comma-separated", integerList(1), [16, 64])
    .option("--prompt-len <n>", "tokens per prompt (random ids)", integer(1), 64)
    .option("--new-tokens <n>", "new tokens per row", integer(1), 64)
    .option("--repeats <n>", "timed generations per batch size", integer(1), 3)
    .option("--cache-dir <dir>", "where the random checkpoints are cached (default: the system temp folder)")
    .option("--json", "print the report as JSON", false)
    .action((o: GenerateBenchCliOptions) => generateBench(o));
  bench
    .command("step")
    .description(
      "full RL steps (generate, reward, old log-probs, N_updates optimizer steps) of lgpo and of grpo with old " +
        "log-probs recomputed / skipped for the first minibatch / taken from generation, each with and without " +
        "skipping zero-advantage sequences, on identical rollouts; median and range per phase over --repeats " +
        "after a warm-up, and lgpo / grpo per baseline (docs/benchmarks.md)",
    )
    .addOption(
      new Option(
        "--shape <shape>",
        "tiny: the shipped models/countdown-tiny on Countdown (its compact template, the Countdown verifier); " +
          "half: a random Qwen2.5-0.5B with 2 layers on random prompts, every row to --new-tokens, a synthetic parity reward",
      )
        .choices(STEP_SHAPES)
        .default("tiny"),
    )
    .option("--updates <list>", "N_updates values to measure, comma-separated", integerList(1), [1, 2, 4])
    .option("--repeats <n>", "timed steps per cell and N_updates", integer(1), 3)
    .option("--model <path>", "checkpoint to use instead of the shape's")
    .addOption(
      new Option("--gate <mode>", "how the LGPO cells choose τ each step (objective.gate.mode)")
        .choices(["fixed", "quantile", "target"])
        .default("fixed"),
    )
    .option("--exclude-forced", "the LGPO cells leave forced format tokens out of the gate's statistic", false)
    .option("--prompts <n>", "B: prompts per step (default: tiny 8, half 4)", integer(1))
    .option("--group-size <n>", "G: samples per prompt (default: tiny 8, half 4)", integer(1))
    .option("--new-tokens <n>", "response length limit (default: tiny 32, half 16)", integer(1))
    .option("--prompt-len <n>", "tokens per random prompt, half only (default 16)", integer(1))
    .option("--peak", "measure the f32 GEMM peak and report MFU (default: for half)")
    .option("--no-peak", "do not measure the GEMM peak")
    .option("--cache-dir <dir>", "where the random checkpoints are cached (default: the system temp folder)")
    .option("--json", "print the report as JSON", false)
    .action((o: StepBenchCliOptions) => stepBench(o));
}

async function stepBench(o: StepBenchCliOptions): Promise<void> {
  const { json, prompts, groupSize, newTokens, promptLen, gate: mode, excludeForced, ...rest } = o;
  const size = Object.fromEntries(
    Object.entries({ prompts, groupSize, newTokens, promptLen }).filter(([, v]) => v !== undefined),
  );
  const gate = { mode: mode as GateMode, ...(excludeForced ? { exclude_forced: true } : {}) };
  const report = await benchStep({ ...rest, size, gate }, (p) => {
    const f = (x: number) => x.toFixed(3);
    const ph = p.phases;
    process.stderr.write(
      `bench step ${o.shape} n_updates ${p.nUpdates} ${p.repeat === 0 ? "warm-up" : `repeat ${p.repeat}/${p.repeats}`} ` +
        `${cellLabel(p.cell)}: ${f(p.stepS)} s (generate ${f(ph.generate_s)}, reward ${f(ph.reward_s)}, ` +
        `old log-probs ${f(ph.old_logprob_s)}, update ${f(ph.update_s)})\n`,
    );
  });
  process.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : stepTables(report));
}

/** The report as markdown tables: one row per cell and N_updates, then the ratios. */
export function stepTables(report: StepBenchReport): string {
  const f = (x: number) => x.toFixed(3);
  const range = (s: { min: number; max: number }) => `[${f(s.min)}, ${f(s.max)}]`;
  const mfu = report.results.some((r) => r.mfu);
  const lines = [
    `| N_updates | cell | step s [min, max] | generate | reward | old log-probs | update | zero-adv${mfu ? " | MFU update | MFU step" : ""} |`,
    `|---|---|---|---|---|---|---|---${mfu ? "|---|---" : ""}|`,
    ...report.results.map((r) => {
      const label = cellLabel({ objective: r.objective, variant: r.variant, skipZeroAdvantage: r.skip_zero_advantage });
      const p = r.phases;
      const m = r.mfu ? ` | ${r.mfu.update.toFixed(3)} | ${r.mfu.step.toFixed(3)}` : mfu ? " | | " : "";
      return (
        `| ${r.n_updates} | ${label} | ${f(r.step_s)} ${range(r.spread.step_s)} | ${f(p.generate_s)} | ` +
        `${f(p.reward_s)} | ${f(p.old_logprob_s)} | ${f(p.update_s)} | ${r.zero_adv_frac.toFixed(2)}${m} |`
      );
    }),
    "",
    "| N_updates | baseline | skip zero-adv | lgpo / grpo |",
    "|---|---|---|---|",
    ...report.ratios.map(
      (r) => `| ${r.n_updates} | ${r.baseline} | ${r.skip_zero_advantage} | ${r.lgpo_over_grpo.toFixed(3)} |`,
    ),
    "",
    `(${report.machine.cpu}, ${report.machine.threads} threads, load average ${report.machine.load_average.start
      .map((x) => x.toFixed(2))
      .join(" ")} at the start, ${report.machine.load_average.end.map((x) => x.toFixed(2)).join(" ")} at the end` +
      `${report.machine.gemm_peak_flops ? `; f32 GEMM peak ${(report.machine.gemm_peak_flops / 1e9).toFixed(1)} GFLOP/s` : ""}; ` +
      `model ${report.settings.model})`,
  ];
  return `${lines.join("\n")}\n`;
}

async function generateBench(o: GenerateBenchCliOptions): Promise<void> {
  const { json, ...options } = o;
  const report = await benchGenerate(options, (r) => {
    if (!json) process.stdout.write(line(r));
  });
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`(${report.threads} threads; checkpoint ${report.checkpoint})\n`);
}

function line(r: GenerateBenchResult): string {
  const t = r.tokensPerSecond;
  const fmt = (x: number) => Math.round(x).toLocaleString("en-US");
  const seconds = (r.rows * r.newTokens) / t.median;
  return (
    `generate ${r.shape} rows ${r.rows}, prompt ${r.promptLen}, new ${r.newTokens}: ` +
    `${fmt(t.median)} tokens/s [${fmt(t.min)}, ${fmt(t.max)}] over ${r.seconds.length} runs, ${seconds.toFixed(2)} s each\n`
  );
}
