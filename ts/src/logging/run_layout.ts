/**
 * The layout of a run directory (docs/run-directory.md). The trainer writes these names and the
 * report, the dashboard, the sweeps and resume read them: each is named here only.
 */

/** The files (and the checkpoints folder) of a run directory. */
export const RUN_FILES = {
  /** The resolved config, as YAML. */
  config: "config.yaml",
  /** One JSON line per training step and eval. */
  metrics: "metrics.jsonl",
  /** Rollout samples, one JSON line each. */
  samples: "samples.jsonl",
  /** How the run ended, and its final metrics and evals. */
  summary: "summary.json",
  /** `step-N/` checkpoint folders and the `latest` pointer. */
  checkpoints: "checkpoints",
} as const;

/** The name prefix of TensorBoard event files. */
export const TENSORBOARD_PREFIX = "events.out.tfevents.";
