/**
 * Hugging Face repository ids as users write them: `org/name[@revision]` for models and
 * `hf://datasets/org/name[@revision][/path-or-glob]` for datasets.
 */
import { HubError } from "./errors.js";

/** The kinds of repository lgpo reads. */
export type RepoType = "model" | "dataset";

/** A repository at a revision (a branch, a tag or a commit hash; `main` by default). */
export interface RepoRef {
  type: RepoType;
  /** `org/name` (or a bare `name` for the hub's legacy top-level repositories). */
  id: string;
  revision: string;
}

/** A dataset repository, with the part of the `hf://` address after the repository, if any. */
export interface DatasetAddress extends RepoRef {
  /** A file path or glob inside the repository (`data/train-*.parquet`). */
  pathPattern?: string;
}

export const DEFAULT_REVISION = "main";

/** A commit hash: what `snapshots/` folders are named by. */
export const COMMIT_HASH = /^[0-9a-f]{40}$/;

// huggingface_hub's validate_repo_id: letters, digits, - _ . ; no leading or trailing - or . ; at most 96.
const NAME_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

/** Whether `text` is a well-formed repository id (`org/name` or `name`). */
export function isRepoId(text: string): boolean {
  const parts = text.split("/");
  return (
    text.length <= 96 &&
    parts.length <= 2 &&
    parts.every((p) => NAME_PART.test(p)) &&
    !text.includes("--") &&
    !text.includes("..") &&
    !text.endsWith(".git")
  );
}

/** Whether `revision` can name a git ref or commit (no spaces, no `..`, no leading or trailing `/`). */
function isRevision(revision: string): boolean {
  return /^[^\s/~^:?*[\\][^\s~^:?*[\\]*$/.test(revision) && !revision.includes("..") && !revision.endsWith("/");
}

function badId(message: string): HubError {
  return new HubError("bad_id", message);
}

function checkRevision(revision: string, text: string): string {
  if (!isRevision(revision)) throw badId(`${text}: "${revision}" is not a valid revision (a branch, tag or commit)`);
  return revision;
}

/** One revision from the `@revision` suffix and the `revision` option; both given must agree. */
function pickRevision(inId: string | undefined, option: string | undefined, text: string): string {
  if (inId !== undefined && option !== undefined && inId !== option) {
    throw badId(`${text}: revision "${inId}" in the id disagrees with revision option "${option}"`);
  }
  return checkRevision(inId ?? option ?? DEFAULT_REVISION, text);
}

/**
 * Parses `org/name[@revision]`. Throws a `HubError` of kind `bad_id` naming the text when it is
 * not an id, or when its `@revision` disagrees with `revision`.
 */
export function parseModelId(text: string, revision?: string): RepoRef {
  const at = text.indexOf("@");
  const id = at < 0 ? text : text.slice(0, at);
  if (!isRepoId(id)) {
    throw badId(`"${text}" is neither an existing local path nor a Hugging Face id (org/name[@revision])`);
  }
  const inId = at < 0 ? undefined : text.slice(at + 1);
  return { type: "model", id, revision: pickRevision(inId, revision, text) };
}

export const DATASET_SCHEME = "hf://datasets/";

// Revisions with slashes, as huggingface_hub's HfFileSystem recognises them inside hf:// paths.
const SLASHED_REVISION = /^(refs\/(?:pr\/\d+|convert\/[^/]+))(?:\/|$)/;

/**
 * Parses `hf://datasets/org/name[@revision][/path-or-glob]`. A revision with slashes is written
 * URL-encoded (`@refs%2Fconvert%2Fparquet`) or as `refs/pr/N`, `refs/convert/NAME`.
 */
export function parseDatasetAddress(text: string, revision?: string): DatasetAddress {
  if (!text.startsWith(DATASET_SCHEME)) {
    throw badId(`"${text}" is not a dataset address (hf://datasets/org/name[@revision][/path])`);
  }
  const rest = text.slice(DATASET_SCHEME.length);
  const idMatch = /^([^/@]+)(?:\/([^/@]+))?/.exec(rest);
  const id = idMatch?.[2] === undefined ? idMatch?.[1] : `${idMatch[1]}/${idMatch[2]}`;
  if (id === undefined || !isRepoId(id)) {
    throw badId(`"${text}": the dataset id after hf://datasets/ is not of the form org/name`);
  }
  let tail = rest.slice(id.length);
  let inId: string | undefined;
  if (tail.startsWith("@")) {
    tail = tail.slice(1);
    const slashed = SLASHED_REVISION.exec(tail);
    const raw = slashed?.[1] ?? tail.split("/")[0]!;
    try {
      inId = decodeURIComponent(raw);
    } catch {
      throw badId(`"${text}": the revision "${raw}" is not valid URL encoding`);
    }
    tail = tail.slice(raw.length);
  }
  if (tail !== "" && !tail.startsWith("/")) throw badId(`"${text}": expected "/" after the dataset id`);
  const pathPattern = tail.replace(/^\/+/, "");
  const ref: DatasetAddress = { type: "dataset", id, revision: pickRevision(inId, revision, text) };
  if (pathPattern !== "") ref.pathPattern = pathPattern;
  return ref;
}

/** `org/name@revision`, as error messages name a repository. */
export function describeRef(ref: RepoRef): string {
  return `${ref.type === "dataset" ? "dataset " : ""}${ref.id}@${ref.revision}`;
}
