/** `lgpo-run bench`: benchmarks of lgpo's heavy calls, one subcommand each (generate; more to come). */
import { type Command, Option } from "commander";

import {
  BENCH_SHAPE_NAMES,
  type GenerateBenchOptions,
  type GenerateBenchResult,
  benchGenerate,
} from "../bench/index.js";
import { integer, integerList } from "./options.js";

type GenerateBenchCliOptions = GenerateBenchOptions & { json: boolean };

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
