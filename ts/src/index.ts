/**
 * lgpo: the TypeScript SDK over the Rust core.
 *
 * - {@link Policy}: load a Qwen2/Qwen2.5 checkpoint, generate, score, train, save.
 * - {@link Tokenizer}: encode, decode, chat templates.
 * - {@link objectives}: the core's objectives as a pure function of per-token log-probs.
 * - `rewards`: Countdown and math verifiers, custom rewards, a registry by name.
 * - {@link renderReport} and {@link startDashboard}: charts of run directories, as one HTML file or live.
 */
export { VERSION } from "./version.js";
export {
  Policy,
  initRandomCheckpoint,
  type LoadOptions,
  type TrainConfig,
  type GenerateOptions,
  type Generation,
  type ScoreInput,
  type ResponseScore,
  type Minibatch,
} from "./sdk/policy.js";
export { Tokenizer, type ChatMessage, type ChatTemplateOptions } from "./sdk/tokenizer.js";
export {
  objectives,
  evaluateObjective,
  OBJECTIVE_NAMES,
  type ObjectiveName,
  type ObjectiveConfig,
  type Aggregation,
  type EvaluateInputs,
  type EvaluateResult,
} from "./sdk/objectives.js";

export * from "./rewards/index.js";
export * from "./data/countdown.js";
export { renderReport } from "./report/report.js";
export type { PageOptions as ReportOptions } from "./report/page_builder.js";
export { startDashboard, type Dashboard, type DashboardOptions } from "./dashboard/server.js";
