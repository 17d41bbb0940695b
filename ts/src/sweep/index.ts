/** Sweeps: a plan of arms × seeds, run one after another, resumable (`lgpo-run sweep`). */
export { readPlan, type SweepArm, type SweepPlan } from "./plan.js";
export {
  copyResults,
  planRuns,
  RESULT_FILES,
  type RunStatus,
  runArgs,
  runStatus,
  runSweep,
  type SweepOptions,
  type SweepRun,
  type SweepSummary,
} from "./run.js";
export { COLLAPSE_RULE, type StabilityVerdict, stabilityVerdict } from "./verdict.js";
