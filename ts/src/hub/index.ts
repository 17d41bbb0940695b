/**
 * Models and datasets by local path or Hugging Face id, through the cache that transformers,
 * datasets and vLLM share (see the README section "Models and datasets by Hugging Face id").
 *
 * The stable API: {@link resolveModel} and {@link resolveDataset} (the package's `readRecords`,
 * from data/, reads what the latter returns); both reject with a {@link HubError}.
 */
export { resolveModel } from "./model.js";
export { resolveDataset, type DatasetOptions } from "./dataset.js";
export type { HubOptions } from "./snapshot.js";
export type { DownloadEvent, ProgressOption } from "./progress.js";
export { HubError, type HubErrorKind } from "./errors.js";
export { hubCacheDir, hubEndpoint, offlineFromEnv } from "./environment.js";
