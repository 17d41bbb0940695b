/**
 * Where a dataset setting points: a local file, a named dataset under `$LGPO_DATA_DIR`, or a
 * Hugging Face dataset (`hf://datasets/org/name`). Each resolves to a list of local files.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

import { DatasetError } from "./records.js";

/** The named datasets and their files under `$LGPO_DATA_DIR`. */
export const NAMED_DATASETS: Readonly<Record<string, string>> = {
  math500: "math500/test.jsonl",
  aime24: "aime24/test.jsonl",
  aime25: "aime25/test.jsonl",
  olympiadbench: "olympiadbench/test.jsonl",
  math_train: "math_train/train_12k.jsonl",
  countdown_train: "countdown/train_8000.jsonl",
  countdown_test: "countdown/test_2000.jsonl",
};

/** Options of {@link resolveDatasetFiles}. */
export interface DatasetSourceOptions {
  /** Split of an `hf://datasets/...` dataset. */
  split?: string;
  /** Never touch the network (hub datasets must be in the cache). */
  offline?: boolean;
  /** Directory of the named datasets; default `$LGPO_DATA_DIR`. */
  dataDir?: string;
}

/** Resolves a dataset setting to local files; errors say where they looked. */
export async function resolveDatasetFiles(spec: string, options: DatasetSourceOptions = {}): Promise<string[]> {
  if (spec.startsWith("hf://")) {
    const { resolveHubDataset } = await import("./hub_datasets.js");
    return resolveHubDataset(spec, options);
  }
  const named = NAMED_DATASETS[spec];
  if (named !== undefined) {
    const dir = options.dataDir ?? process.env.LGPO_DATA_DIR;
    if (dir === undefined || dir === "") {
      throw new DatasetError(
        `dataset \`${spec}\` is a named dataset, read from $LGPO_DATA_DIR/${named}; set LGPO_DATA_DIR to the data directory`,
      );
    }
    const path = join(dir, named);
    if (!existsSync(path)) throw new DatasetError(`dataset \`${spec}\`: not found: looked for ${path}`);
    return [path];
  }
  const path = resolve(spec);
  if (!existsSync(path)) {
    throw new DatasetError(
      `dataset \`${spec}\`: no such file (${path}), and not a named dataset (${Object.keys(NAMED_DATASETS).join(", ")}) or hf://datasets/org/name`,
    );
  }
  return [path];
}
