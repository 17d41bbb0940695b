/**
 * Generation throughput of lgpo: `Policy.generate` on a random checkpoint of a benchmark shape,
 * sampling at temperature 1 with no stop id, so every row runs to the same length.
 */
import { native } from "../sdk/native.js";
import { Policy } from "../sdk/policy.js";
import { type BenchShape, benchCheckpoint, benchPrompts } from "./shapes.js";
import { type Spread, spread, timeRepeats } from "./timing.js";

/** What to measure. */
export interface GenerateBenchOptions {
  shape: BenchShape;
  /** Batch sizes (rows per `generate` call), each measured in turn. */
  rows: number[];
  /** Tokens per prompt. */
  promptLen: number;
  /** New tokens per row. */
  newTokens: number;
  /** Timed generations per batch size, after one warm-up. */
  repeats: number;
  /** Where the random checkpoint is cached (default: see `defaultCacheDir`). */
  cacheDir?: string;
  /** Seed of the prompts and of sampling (default 0). */
  seed?: number;
}

/** One batch size's measurement. */
export interface GenerateBenchResult {
  shape: BenchShape;
  rows: number;
  promptLen: number;
  newTokens: number;
  /** Wall-clock seconds of each timed generation. */
  seconds: number[];
  /** New tokens per second over all rows: median, min and max over the repeats. */
  tokensPerSecond: Spread;
}

/** All batch sizes of one shape. */
export interface GenerateBenchReport {
  tool: "lgpo";
  /** Threads of the core's CPU kernels. */
  threads: number;
  checkpoint: string;
  results: GenerateBenchResult[];
}

/** Measures `Policy.generate` throughput; `onResult` sees each batch size as soon as it is done. */
export async function benchGenerate(
  options: GenerateBenchOptions,
  onResult: (result: GenerateBenchResult) => void = () => {},
): Promise<GenerateBenchReport> {
  const seed = options.seed ?? 0;
  const checkpoint = await benchCheckpoint(options.shape, options.cacheDir);
  const policy = await Policy.load(checkpoint, { seed });
  try {
    const results: GenerateBenchResult[] = [];
    for (const rows of options.rows) {
      const prompts = benchPrompts(rows, options.promptLen, seed);
      const run = async () => {
        const out = await policy.generate(prompts, {
          temperature: 1,
          maxNewTokens: options.newTokens,
          stopTokenIds: [],
          vocabLimit: false,
          seed,
        });
        if (out.some((g) => g.tokens.length !== options.newTokens)) {
          throw new Error(`a row stopped before ${options.newTokens} new tokens`);
        }
      };
      const seconds = await timeRepeats(run, options.repeats);
      const result: GenerateBenchResult = {
        shape: options.shape,
        rows,
        promptLen: options.promptLen,
        newTokens: options.newTokens,
        seconds,
        tokensPerSecond: spread(seconds.map((s) => (rows * options.newTokens) / s)),
      };
      onResult(result);
      results.push(result);
    }
    return { tool: "lgpo", threads: native().computeThreads(), checkpoint, results };
  } finally {
    policy.dispose();
  }
}
