/**
 * The hub cache as huggingface_hub lays it out, so that Python tools and lgpo reuse each other's
 * downloads:
 *
 * ```
 * <cache>/models--org--name/            (datasets--org--name for datasets)
 *   refs/main                           the commit hash the branch or tag pointed at, no newline
 *   blobs/<etag>                        file contents, named by sha256 (LFS) or git blob id
 *   blobs/<etag>.incomplete             a partial download (resumed by the next attempt)
 *   snapshots/<commit>/<path>           relative symlinks ../../blobs/<etag>
 * ```
 */
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, sep } from "node:path";

import { COMMIT_HASH, type RepoRef } from "./repo_id.js";

/** `models--org--name` or `datasets--org--name`. */
export function repoFolderName(ref: Pick<RepoRef, "type" | "id">): string {
  return [`${ref.type}s`, ...ref.id.split("/")].join("--");
}

/** The repository's folder in the cache. */
export function storageFolder(cacheDir: string, ref: Pick<RepoRef, "type" | "id">): string {
  return join(cacheDir, repoFolderName(ref));
}

/** The commit a revision names in the cache: the revision itself if it is a hash, else `refs/<revision>`. */
export function cachedCommit(storage: string, revision: string): string | undefined {
  if (COMMIT_HASH.test(revision)) return revision;
  const path = join(storage, "refs", revision);
  if (!existsSync(path) || !statSync(path).isFile()) return undefined;
  const commit = readFileSync(path, "utf8").trim();
  return COMMIT_HASH.test(commit) ? commit : undefined;
}

/** Records that `revision` points at `commit` (atomically; nothing for a commit hash). */
export function writeRef(storage: string, revision: string, commit: string): void {
  if (revision === commit) return;
  const path = join(storage, "refs", revision);
  if (existsSync(path) && readFileSync(path, "utf8") === commit) return;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, commit);
  renameSync(tmp, path);
}

export function snapshotDir(storage: string, commit: string): string {
  return join(storage, "snapshots", commit);
}

export function blobPath(storage: string, etag: string): string {
  return join(storage, "blobs", etag);
}

/** Whether `path` exists, following symlinks (a snapshot entry whose blob is gone does not). */
export function fileExists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Places `snapshots/<commit>/<path>` as a relative symlink to `blobs/<etag>` (a copy where the
 * file system has no symlinks), replacing a stale entry.
 */
export function linkIntoSnapshot(storage: string, commit: string, path: string, etag: string): string {
  const pointer = join(snapshotDir(storage, commit), ...path.split("/"));
  const blob = blobPath(storage, etag);
  mkdirSync(dirname(pointer), { recursive: true });
  try {
    lstatSync(pointer);
    rmSync(pointer, { force: true });
  } catch {
    // no stale entry
  }
  try {
    symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
    copyFileSync(blob, pointer);
  }
  return pointer;
}

/** The files of a snapshot folder, as repository paths with `/` (symlinks to missing blobs left out). */
export function snapshotFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (fileExists(path)) out.push(relative(dir, path).split(sep).join("/"));
    }
  };
  walk(dir);
  return out.sort();
}
