/** Benchmarks of lgpo's heavy calls, shared by `lgpo-run bench` and the peer comparison (benches/peer). */
export {
  BENCH_SHAPES,
  BENCH_SHAPE_NAMES,
  type BenchShape,
  benchCheckpoint,
  benchPrompts,
  defaultCacheDir,
} from "./shapes.js";
export { type Spread, spread, timeRepeats } from "./timing.js";
export {
  type GenerateBenchOptions,
  type GenerateBenchReport,
  type GenerateBenchResult,
  benchGenerate,
} from "./generate.js";
