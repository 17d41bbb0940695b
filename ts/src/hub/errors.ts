/** The one error type of the hub layer: a one-line message and whether the caller's input is at fault. */

/** Why a hub operation failed. */
export type HubErrorKind =
  /** The id or `hf://` address is not well formed. */
  | "bad_id"
  /** Offline (`HF_HUB_OFFLINE=1` or `offline: true`) and the files are not in the cache. */
  | "not_cached"
  /** 401: no token, or a token the hub rejects, for a private or gated repository. */
  | "unauthorized"
  /** 403: the token lacks access (a gated repository whose terms were not accepted, for example). */
  | "forbidden"
  /** 404: no such repository, revision or file. */
  | "not_found"
  /** The repository has none of the files asked for (no safetensors weights, no file of the split). */
  | "no_files"
  /** The hub could not be reached, or a transfer broke and could not be resumed. */
  | "network"
  /** The hub answered, but not as expected (a 5xx, a missing header). */
  | "server"
  /** A downloaded file does not match its size or hash. */
  | "integrity"
  /** A dataset file is not valid JSON Lines, JSON or Parquet. */
  | "bad_data";

const BAD_INPUT: ReadonlySet<HubErrorKind> = new Set([
  "bad_id",
  "not_cached",
  "unauthorized",
  "forbidden",
  "not_found",
  "no_files",
  "bad_data",
]);

/**
 * A failure to resolve or download a model or dataset. `message` is one line that names the id,
 * the revision and, where it matters, the cache folder. `badInput` marks failures the caller can
 * fix (the CLI exits 2 on them, 1 on the others).
 */
export class HubError extends Error {
  override readonly name = "HubError";

  constructor(
    readonly kind: HubErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Whether the caller's input (id, revision, token, offline cache) is at fault. */
  get badInput(): boolean {
    return BAD_INPUT.has(this.kind);
  }
}
