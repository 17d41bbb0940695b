/** `hf://datasets/org/name[@revision][/glob]` dataset settings, through the shared Hugging Face cache. */
import { resolveDataset } from "../hub/dataset.js";
import type { DatasetSourceOptions } from "./sources.js";

/** Local files of a hub dataset's split (downloaded into the hub cache unless offline). */
export async function resolveHubDataset(spec: string, options: DatasetSourceOptions): Promise<string[]> {
  return resolveDataset(spec, {
    ...(options.split !== undefined ? { split: options.split } : {}),
    ...(options.offline !== undefined ? { offline: options.offline } : {}),
  });
}
