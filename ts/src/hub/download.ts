/**
 * One file from the hub into the cache: bytes go to `blobs/<etag>.incomplete`, resumed with a
 * Range request after a broken transfer (in this run or a later one), checked against the size and
 * the hash the etag names, then renamed to `blobs/<etag>` and linked from the snapshot. A blob or
 * snapshot entry is therefore always whole; a file the hub refuses or that fails its check leaves
 * nothing behind.
 */
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { blobPath, linkIntoSnapshot, repoFolderName } from "./cache.js";
import { HubError } from "./errors.js";
import { type HubClient, type RemoteFile, networkError, request, statusError } from "./http.js";
import { matchesEtag } from "./integrity.js";
import { withLock } from "./lock.js";
import type { RepoRef } from "./repo_id.js";

/** Attempts in a row that bring no new byte before a transfer is given up (huggingface_hub's 5). */
const MAX_STALLED_ATTEMPTS = 5;
const RETRY_DELAY_MS = 500;

function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Range start of a 206's `Content-Range: bytes START-END/TOTAL`. */
function rangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "");
  return match === null ? undefined : Number(match[1]);
}

/**
 * GETs the bytes of `file` after the `offset` already in `incomplete` and appends them; returns
 * when the body ends or breaks (a break is reported by the `TypeError` fetch throws).
 */
/** One file's transfer into its `.incomplete` file; `what` names it in errors. */
interface Transfer {
  client: HubClient;
  file: RemoteFile;
  incomplete: string;
  what: string;
  onBytes: (delta: number) => void;
  signal?: AbortSignal;
}

async function transfer({ client, file, incomplete, what, onBytes, signal }: Transfer): Promise<void> {
  let offset = sizeOf(incomplete);
  const headers: Record<string, string> = { "accept-encoding": "identity" };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  const response = await request(client, file.url, { headers, signal }, what);
  if (response.status === 416 || !response.ok) {
    await response.body?.cancel();
    rmSync(incomplete, { force: true });
    onBytes(-offset);
    if (response.status === 416) return; // the partial file was longer than the file: start over
    throw statusError(response.status, response.headers.get("x-error-code"), what);
  }
  // A server that ignores Range answers 200 with the whole file: start the partial file over.
  if (offset > 0 && (response.status !== 206 || rangeStart(response) !== offset)) {
    rmSync(incomplete, { force: true });
    onBytes(-offset);
    offset = 0;
  }
  let handle: FileHandle | undefined;
  try {
    handle = await open(incomplete, offset > 0 ? "a" : "w");
    if (response.body === null) return;
    for await (const chunk of response.body) {
      await handle.write(chunk);
      onBytes(chunk.byteLength);
    }
  } finally {
    await handle?.close();
  }
}

async function fetchToIncomplete(job: Transfer): Promise<void> {
  const { file, incomplete, what, onBytes } = job;
  let stalled = 0;
  for (;;) {
    const before = sizeOf(incomplete);
    if (before > file.size) {
      rmSync(incomplete, { force: true });
      onBytes(-before);
      continue;
    }
    if (before === file.size) return;
    try {
      await transfer(job);
    } catch (error) {
      if (job.signal?.aborted) throw error;
      if (error instanceof HubError && error.kind !== "network") throw error;
      if (!(error instanceof HubError) && !(error instanceof TypeError)) throw error; // a file-system error
      stalled = sizeOf(incomplete) > before ? 1 : stalled + 1;
      if (stalled >= MAX_STALLED_ATTEMPTS) {
        throw error instanceof HubError ? error : networkError(error, `${what}: transfer broke`, file.url);
      }
      await sleep(RETRY_DELAY_MS);
      continue;
    }
    // The body ended: whole, or cut short without an error (then the next attempt resumes).
    stalled = sizeOf(incomplete) > before ? 0 : stalled + 1;
    if (stalled >= MAX_STALLED_ATTEMPTS) {
      throw new HubError("network", `${what}: the transfer keeps ending at byte ${before} of ${file.size}`);
    }
  }
}

/** What {@link downloadFile} needs: where the cache is, which file, whom to tell of progress. */
export interface FileDownload {
  client: HubClient;
  cacheDir: string;
  /** The repository's folder in the cache. */
  storage: string;
  ref: RepoRef;
  file: RemoteFile;
  /** Hears every byte written (negative when a partial file is started over). */
  onBytes?: (delta: number) => void;
  /** Aborts the transfer; the partial file stays for the next attempt. */
  signal?: AbortSignal;
}

/**
 * Downloads `file` of `ref` into the cache (unless its blob is there) and links it into
 * `snapshots/<file.commit>/`; returns the snapshot path.
 */
export async function downloadFile(job: FileDownload): Promise<string> {
  const { client, cacheDir, storage, ref, file, onBytes = () => {}, signal } = job;
  const blob = blobPath(storage, file.etag);
  const what = `${ref.id}@${ref.revision}: ${file.path}`;
  const lock = join(cacheDir, ".locks", repoFolderName(ref), `${file.etag}.lgpo.lock`);
  await withLock(lock, async () => {
    if (existsSync(blob)) return;
    mkdirSync(dirname(blob), { recursive: true });
    const incomplete = `${blob}.incomplete`;
    onBytes(sizeOf(incomplete));
    await fetchToIncomplete({ client, file, incomplete, what, onBytes, signal });
    if (!(await matchesEtag(incomplete, file.size, file.etag))) {
      rmSync(incomplete, { force: true });
      throw new HubError("integrity", `${what}: the downloaded bytes do not hash to the hub's etag ${file.etag}`);
    }
    renameSync(incomplete, blob);
  });
  return linkIntoSnapshot(storage, file.commit, file.path, file.etag);
}
