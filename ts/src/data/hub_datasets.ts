/** `hf://datasets/org/name[@revision][/glob]` dataset settings, through the shared Hugging Face cache. */
import { resolveDataset } from "../hub/dataset.js";

/** What a hub dataset setting can say beyond its id (the part of `DatasetSourceOptions` for the hub). */
export interface HubDatasetSourceOptions {
  split?: string;
  offline?: boolean;
}

/** Local files of a hub dataset's split (downloaded into the hub cache unless offline). */
export async function resolveHubDataset(spec: string, options: HubDatasetSourceOptions): Promise<string[]> {
  return resolveDataset(spec, {
    ...(options.split !== undefined ? { split: options.split } : {}),
    ...(options.offline !== undefined ? { offline: options.offline } : {}),
  });
}
