/**
 * `hf://datasets/org/name` dataset settings. The resolution through the Hugging Face cache and
 * client lives in the hub module; until it is available this says so clearly.
 */
import type { DatasetSourceOptions } from "./sources.js";
import { DatasetError } from "./records.js";

/** Local files of a hub dataset (split and file pattern per the spec). */
export async function resolveHubDataset(spec: string, _options: DatasetSourceOptions): Promise<string[]> {
  throw new DatasetError(`dataset \`${spec}\`: Hugging Face datasets are not supported by this build`);
}
