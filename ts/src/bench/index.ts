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
export {
  benchStep,
  cellLabel,
  STEP_BASELINES,
  STEP_CELLS,
  STEP_SHAPES,
  STEP_SIZES,
  type StepBenchOptions,
  type StepBenchReport,
  type StepCell,
  type StepPhases,
  type StepProgress,
  type StepRatio,
  type StepResult,
  type StepRollouts,
  type StepShape,
  type StepSize,
  type StepVariant,
  stepRatios,
} from "./step.js";
export { modelShape, matmulPeak, type StepFlops, stepFlops } from "./flops.js";
export { parityReward, shippedTinyModel } from "./step_workload.js";
