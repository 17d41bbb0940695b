/**
 * lgpo: the TypeScript SDK over the Rust core.
 *
 * - {@link Policy}: load a Qwen2/Qwen2.5 checkpoint, generate, score, train, save.
 * - {@link Tokenizer}: encode, decode, chat templates.
 * - {@link objectives}: the core's objectives as a pure function of per-token log-probs;
 *   {@link GateThreshold}: LGPO's τ chosen per step (fixed, quantile, target).
 * - `rewards`: Countdown and math verifiers, custom rewards, a registry by name.
 * - {@link renderReport} and {@link startDashboard}: charts of run directories, as one HTML file or live.
 */
export { VERSION } from "./version.js";
export {
  Policy,
  initRandomCheckpoint,
  type LoadOptions,
  type GenerateOptions,
  type Generation,
  type ScoreInput,
  type ResponseScore,
  type Minibatch,
} from "./sdk/policy.js";
export { TrainConfigSchema, type TrainConfig } from "./sdk/train_config.js";
export { Tokenizer, type ChatMessage, type ChatTemplateOptions } from "./sdk/tokenizer.js";
export {
  objectives,
  evaluateObjective,
  objectiveRequirements,
  OBJECTIVE_NAMES,
  type ObjectiveRequirements,
  type ObjectiveName,
  type ObjectiveConfig,
  type Aggregation,
  type EvaluateInputs,
  type EvaluateResult,
  coreObjective,
} from "./sdk/objectives.js";
export {
  GateThreshold,
  GATE_DEFAULTS,
  quantile,
  controllerUpdate,
  meanLoglikelihood,
  type GateSettings,
  type GateMode,
  type GateThresholdState,
} from "./sdk/gate_threshold.js";
export { forcedFormatTokens } from "./data/forced_format.js";

export * from "./rewards/index.js";
export * from "./data/countdown.js";

export { RunConfigSchema, type RunConfig, type RunConfigInput } from "./config/schema.js";
export { loadConfig, resolveConfig, readConfigFile, applyOverrides, configToYaml, ConfigError } from "./config/load.js";
export { configKeyDocs, configMarkdown } from "./config/docs.js";
export { train, type TrainOptions, type TrainSummary } from "./trainer/train.js";
export { sft } from "./trainer/sft.js";
export { TrainingError, type RunOptions, type RunSummary } from "./trainer/session.js";
export { finalizeWorld, initWorld, SINGLE_PROCESS, type World } from "./distributed/world.js";
export { evaluateModel, type EvaluateModelOptions, type ModelEvaluation } from "./trainer/eval_model.js";
export { readEvents, TensorBoardWriter, type DecodedEvent } from "./logging/tensorboard.js";
export { groupAdvantages, overlongPenalty, type AdvantageScale } from "./rollout/advantages.js";
export { renderPrompt, resolveTemplate, type PromptTemplate } from "./data/prompts.js";
export { loadDatasetTasks, heldOutCountdownTasks } from "./data/load.js";
export { NAMED_DATASETS, resolveDatasetFiles } from "./data/sources.js";
export { DatasetError, readRecords } from "./data/records.js";
export type { Task, CountdownTask, MathTask } from "./data/tasks.js";
export * from "./hub/index.js";
export { renderReport } from "./report/report.js";
export type { PageOptions as ReportOptions } from "./report/page_builder.js";
export { startDashboard, type Dashboard, type DashboardOptions } from "./dashboard/server.js";
