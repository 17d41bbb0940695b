/**
 * Datasets by local path or `hf://datasets/org/name[@revision][/path-or-glob]`: which JSONL and
 * Parquet files make a split, and {@link resolveDataset}.
 */
import { existsSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import picomatch from "picomatch";

import { snapshotFiles } from "./cache.js";
import { HubError } from "./errors.js";
import { DATASET_SCHEME, parseDatasetAddress } from "./repo_id.js";
import { type HubOptions, type Selection, fetchSnapshot } from "./snapshot.js";

/** Options of {@link resolveDataset}. */
export interface DatasetOptions extends HubOptions {
  /**
   * The split whose files to take (default `train`), found as the datasets library finds it: a
   * file or folder name containing the split's name between separators (`data/train-00000-of-00001.parquet`,
   * `train.jsonl`, `test/part-0.jsonl`); `validation` also matches `valid`, `val`, `dev`, and
   * `test` also `eval`. A repository none of whose files names a split is all `train`.
   */
  split?: string;
  /**
   * A path or glob inside the repository (`data/train-*.parquet`, or a folder) that picks the
   * files instead of `split`; the same as a path after the id in the `hf://` address.
   */
  pattern?: string;
}

/** Extensions of the files a dataset loader reads. */
export const DATA_FILE = /\.(jsonl|json|parquet)$/i;

const SPLIT_KEYWORDS: Record<string, string[]> = {
  train: ["train", "training"],
  validation: ["validation", "valid", "dev", "val"],
  test: ["test", "testing", "eval", "evaluation"],
};

/** The words of a path between the datasets library's separators `-._ 0-9/`. */
function words(path: string): string[] {
  return path
    .toLowerCase()
    .split(/[-._ 0-9/]+/)
    .filter((w) => w !== "");
}

function preview(paths: string[]): string {
  if (paths.length === 0) return "it has no JSONL or Parquet files";
  const shown = paths.slice(0, 8).join(", ");
  return `its data files: ${shown}${paths.length > 8 ? `, … (${paths.length} in all)` : ""}`;
}

/** The selection of a split's data files, or of the files a pattern (a path, folder or glob) names. */
export function dataFiles(options: { split?: string; pattern?: string }): Selection {
  return {
    select(paths) {
      const data = paths.filter((p) => DATA_FILE.test(p)).sort();
      if (options.pattern !== undefined) {
        const pattern = options.pattern.replace(/^\/+|\/+$/g, "");
        const glob = picomatch.scan(pattern).isGlob;
        const match = picomatch(glob ? pattern : [pattern, `${pattern}/**`]);
        const picked = data.filter((p) => match(p));
        if (picked.length === 0) {
          throw new HubError("no_files", `has no JSONL or Parquet file matching "${pattern}" (${preview(data)})`);
        }
        return picked;
      }
      const split = (options.split ?? "train").toLowerCase();
      const keywords = SPLIT_KEYWORDS[split] ?? [split];
      const picked = data.filter((p) => words(p).some((w) => keywords.includes(w)));
      if (picked.length > 0) return picked;
      const anySplit = Object.values(SPLIT_KEYWORDS).flat();
      if (split === "train" && data.length > 0 && !data.some((p) => words(p).some((w) => anySplit.includes(w)))) {
        return data;
      }
      throw new HubError("no_files", `has no JSONL or Parquet file of split "${split}" (${preview(data)})`);
    },
  };
}

function localFiles(path: string, options: DatasetOptions): string[] {
  if (statSync(path).isFile()) return [path];
  try {
    return dataFiles(options)
      .select(snapshotFiles(path))
      .map((p) => join(path, ...p.split("/")));
  } catch (error) {
    if (error instanceof HubError) throw new HubError(error.kind, `${path} ${error.message}`);
    throw error;
  }
}

/**
 * The local JSONL / Parquet files of a dataset split, in a stable (sorted) order:
 * - an existing local file is returned as is; a local folder gives its files of the split;
 * - `hf://datasets/org/name[@revision][/path-or-glob]` gives the files of that repository in the hub
 *   cache (`datasets--org--name`), downloaded first when they are missing and the hub is allowed.
 *
 * A revision with slashes is written URL-encoded (`@refs%2Fconvert%2Fparquet`). Offline, a
 * missing dataset fails with the id, revision and cache folder in the message.
 *
 * @example
 * ```ts
 * const train = await resolveDataset("hf://datasets/Jiayi-Pan/Countdown-Tasks-3to4", { split: "train" });
 * const rows = await readRecords(train[0]);
 * ```
 * @throws {HubError} (`badInput` for a bad address, a missing cache entry offline, 401, 403, 404
 *   and a split without files).
 */
export async function resolveDataset(address: string, options: DatasetOptions = {}): Promise<string[]> {
  if (typeof address !== "string" || address.trim() === "") {
    throw new TypeError(`a dataset path or hf://datasets/ address must be a non-empty string, got ${String(address)}`);
  }
  if (!address.startsWith(DATASET_SCHEME)) {
    if (!existsSync(address)) {
      throw new HubError("bad_id", `${address}: no such file or folder (hub datasets are hf://datasets/org/name)`);
    }
    return localFiles(resolve(address), options);
  }
  const ref = parseDatasetAddress(address, options.revision);
  if (ref.pathPattern !== undefined && options.pattern !== undefined && ref.pathPattern !== options.pattern) {
    throw new HubError("bad_id", `${address}: the path in the address disagrees with pattern "${options.pattern}"`);
  }
  const selection = dataFiles({ split: options.split, pattern: options.pattern ?? ref.pathPattern });
  const snapshot = await fetchSnapshot(ref, selection, options);
  return snapshot.files.map((p) => join(snapshot.dir, ...p.split("/")));
}
