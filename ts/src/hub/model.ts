/**
 * Models by local path or Hugging Face id: which files make a checkpoint lgpo can load, and
 * {@link resolveModel}.
 */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";

import { native } from "../sdk/native.js";
import { HubError } from "./errors.js";
import { parseModelId } from "./repo_id.js";
import { type HubOptions, type Selection, fetchSnapshot } from "./snapshot.js";

/** Top-level files of a checkpoint besides the weights, as the core names them; only config.json is required. */
const checkpointFiles = (): Set<string> => new Set(native().checkpointFiles());
const INDEX = "model.safetensors.index.json";
const PICKLES = /\.(bin|pt|pth|pkl|ckpt)$/;

/**
 * The files of a checkpoint: config, generation config, tokenizer files, and safetensors weights
 * (`model.safetensors`, or the index and the `model*.safetensors` shards; any top-level
 * `*.safetensors` when neither is there). Pickled weights are never selected.
 */
export const CHECKPOINT: Selection = {
  select(paths) {
    const top = paths.filter((p) => !p.includes("/"));
    if (!top.includes("config.json")) {
      throw new HubError("no_files", "has no config.json: not a Hugging Face model checkpoint");
    }
    const safetensors = top.filter((p) => p.endsWith(".safetensors"));
    const weights = top.includes(INDEX)
      ? [INDEX, ...safetensors.filter((p) => p.startsWith("model"))]
      : safetensors.includes("model.safetensors")
        ? ["model.safetensors"]
        : safetensors;
    if (weights.filter((p) => p.endsWith(".safetensors")).length === 0) {
      const pickles = top.filter((p) => PICKLES.test(p));
      const note = pickles.length > 0 ? ` (only pickled weights: ${pickles.join(", ")}; lgpo never loads pickles)` : "";
      throw new HubError("no_files", `has no safetensors weights${note}`);
    }
    const files = checkpointFiles();
    return [...top.filter((p) => files.has(p)), ...weights].sort();
  },
  complete(dir, files) {
    if (!files.includes(INDEX)) return true;
    try {
      const index = JSON.parse(readFileSync(join(dir, INDEX), "utf8")) as { weight_map?: Record<string, string> };
      return Object.values(index.weight_map ?? {}).every((shard) => files.includes(shard));
    } catch {
      return false; // an unreadable index: fetch the snapshot again rather than trust it
    }
  },
};

/**
 * Whether `text` can only be a file-system path: absolute, starting with `.` or `~`, with a
 * backslash or more than one slash. Such text is never looked up on the hub.
 */
export function isPathLike(text: string): boolean {
  return isAbsolute(text) || /^[.~]/.test(text) || text.includes("\\") || text.split("/").length > 2;
}

/**
 * The local checkpoint directory for `idOrPath`, in this order:
 * 1. an existing local path, returned as given;
 * 2. a Hugging Face id `org/name[@revision]` whose checkpoint files are in the hub cache
 *    (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`);
 * 3. else downloaded into that cache (unless offline), as huggingface_hub would: only config,
 *    generation config, tokenizer files and safetensors weights, never pickles.
 *
 * For a branch or tag the hub is asked which commit it points at (when online); a commit hash
 * already in the cache needs no network. The result is `<cache>/models--org--name/snapshots/<commit>`.
 *
 * @example
 * ```ts
 * const dir = await resolveModel("Qwen/Qwen2.5-Math-1.5B");
 * const pinned = await resolveModel("Qwen/Qwen2.5-0.5B-Instruct@7ae557604adf67be50417f59c2c2f167def9a775", { offline: true });
 * ```
 * @throws {HubError} with a one-line message naming the id, revision and, offline, the cache folder;
 *   `badInput` is true for a bad id, a missing cache entry offline, 401, 403, 404 and a repository
 *   without safetensors weights.
 */
export async function resolveModel(idOrPath: string, options: HubOptions = {}): Promise<string> {
  if (typeof idOrPath !== "string" || idOrPath.trim() === "") {
    throw new TypeError(`a model path or Hugging Face id must be a non-empty string, got ${String(idOrPath)}`);
  }
  if (existsSync(idOrPath)) {
    if (options.revision !== undefined) {
      throw new HubError(
        "bad_id",
        `revision "${options.revision}" applies to hub ids, not to the local path ${idOrPath}`,
      );
    }
    return idOrPath;
  }
  if (isPathLike(idOrPath)) throw new HubError("bad_id", `${idOrPath}: no such checkpoint directory (no config.json)`);
  return (await fetchSnapshot(parseModelId(idOrPath, options.revision), CHECKPOINT, options)).dir;
}
