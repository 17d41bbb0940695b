/**
 * A repository at a revision, as a folder of the hub cache holding the files a caller selects:
 * taken from the cache when it is there (and always when offline), else listed through
 * `@huggingface/hub` and the missing files downloaded, the way huggingface_hub's
 * `snapshot_download` fills the cache.
 */
import { cachedCommit, fileExists, snapshotDir, snapshotFiles, storageFolder, writeRef } from "./cache.js";
import { downloadFile } from "./download.js";
import { hubCacheDir, hubEndpoint, hubToken, offlineFromEnv } from "./environment.js";
import { HubError } from "./errors.js";
import { type HubClient, type RemoteFile, fileMetadata, hubClient, networkError, statusError } from "./http.js";
import { type ProgressOption, progressHandler } from "./progress.js";
import { COMMIT_HASH, type RepoRef, describeRef } from "./repo_id.js";

/** Options shared by {@link resolveModel} and {@link resolveDataset}. */
export interface HubOptions {
  /** A branch, tag or commit hash (default `main`; an `@revision` in the id must agree). */
  revision?: string;
  /** Never touch the network; default: `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`) is 1/ON/YES/TRUE. */
  offline?: boolean;
  /** Download progress on stderr (default: a bar on a terminal, plain lines otherwise); `false` silences it. */
  progress?: ProgressOption;
  /** The hub cache (default: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`). */
  cacheDir?: string;
  /** The hub's URL (default: `HF_ENDPOINT`, else https://huggingface.co). */
  endpoint?: string;
  /** Bearer token for private and gated repositories (default: `HF_TOKEN`, else the saved login token). */
  token?: string;
}

/** Which files of a repository a caller needs. */
export interface Selection {
  /** The wanted paths among a revision's files; throws a `HubError` of kind `no_files` when they fall short. */
  select(paths: string[]): string[];
  /** Whether a cached snapshot holding `files` can be used as it is (default: yes). */
  complete?(dir: string, files: string[]): boolean;
}

/** A revision's selected files in the cache. */
export interface Snapshot {
  commit: string;
  /** `<cache>/<repo folder>/snapshots/<commit>`. */
  dir: string;
  /** The selected files, as repository paths. */
  files: string[];
}

const PARALLEL_FILES = 4;
/** Failures after which a complete cached snapshot is used instead (huggingface_hub does the same). */
const CACHE_FALLBACK: ReadonlySet<string> = new Set(["network", "server", "unauthorized", "forbidden"]);

/**
 * `fn` over `items`, `limit` at a time. After the first failure no item is started, `signal`
 * aborts those under way, and the failure is rethrown once they have stopped.
 */
async function mapLimit<T, R>(
  items: T[],
  limit: number,
  fn: (item: T, signal: AbortSignal) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  const abort = new AbortController();
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, abort.signal);
      } catch (error) {
        failure ??= { error };
        abort.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
  return out;
}

type CacheLookup = { snapshot: Snapshot } | { reason: string };

function lookInCache(storage: string, ref: RepoRef, selection: Selection): CacheLookup {
  const commit = cachedCommit(storage, ref.revision);
  if (commit === undefined) return { reason: `no refs/${ref.revision} and no snapshot of that commit` };
  const dir = snapshotDir(storage, commit);
  let files: string[];
  try {
    files = selection.select(snapshotFiles(dir));
  } catch (error) {
    if (error instanceof HubError && error.kind === "no_files")
      return { reason: `snapshot ${commit}: ${error.message}` };
    throw error;
  }
  if (!(selection.complete?.(dir, files) ?? true)) return { reason: `snapshot ${commit} is incomplete` };
  return { snapshot: { commit, dir, files } };
}

/** The commit a revision points at and the paths of its files, through `@huggingface/hub`. */
async function listRevision(client: HubClient, ref: RepoRef): Promise<{ commit: string; paths: string[] }> {
  const what = describeRef(ref);
  let errorCode: string | null = null;
  // The library's errors drop the headers; keep the last X-Error-Code, and turn failures into HubErrors.
  const fetchAndNote: typeof fetch = async (input, init) => {
    let response: Response;
    try {
      response = await client.fetch(input, init);
    } catch (error) {
      throw networkError(error, what, String(input));
    }
    errorCode = response.headers.get("x-error-code");
    return response;
  };
  // Loaded on first use: the SDK and the CLI's other commands do not pay for it.
  const { HubApiError, datasetInfo, listFiles, modelInfo } = await import("@huggingface/hub");
  const common = { name: ref.id, revision: ref.revision, hubUrl: client.endpoint, fetch: fetchAndNote };
  try {
    const info =
      ref.type === "model"
        ? await modelInfo({ ...common, additionalFields: ["sha"] })
        : await datasetInfo({ ...common, additionalFields: ["sha"] });
    const commit = info.sha;
    if (typeof commit !== "string" || !COMMIT_HASH.test(commit)) {
      throw new HubError("server", `${what}: the hub's answer has no commit hash (sha)`);
    }
    const paths: string[] = [];
    const repo = { type: ref.type, name: ref.id };
    const tree = listFiles({ repo, revision: commit, recursive: true, hubUrl: client.endpoint, fetch: fetchAndNote });
    for await (const entry of tree) {
      if (entry.type === "file") paths.push(entry.path);
    }
    return { commit, paths };
  } catch (error) {
    if (error instanceof HubError) throw error;
    if (error instanceof HubApiError) throw statusError(error.statusCode, errorCode, what);
    throw new HubError("server", `${what}: unexpected answer from ${client.endpoint} (${(error as Error).message})`, {
      cause: error,
    });
  }
}

/** `selection.select(paths)`, its `no_files` message prefixed with the repository. */
function selectOrExplain(selection: Selection, paths: string[], ref: RepoRef): string[] {
  try {
    return selection.select(paths);
  } catch (error) {
    if (error instanceof HubError && error.kind === "no_files") {
      throw new HubError("no_files", `${describeRef(ref)} ${error.message}`);
    }
    throw error;
  }
}

async function download(
  client: HubClient,
  cacheDir: string,
  storage: string,
  ref: RepoRef,
  commit: string,
  paths: string[],
  progress: ProgressOption | undefined,
): Promise<void> {
  const repo = describeRef(ref);
  const files: RemoteFile[] = await mapLimit(paths, PARALLEL_FILES, async (path) => ({
    ...(await fileMetadata(client, ref, commit, path)),
    commit,
  }));
  const report = progressHandler(progress);
  const total = files.reduce((sum, f) => sum + f.size, 0);
  let done = 0;
  report({ type: "start", repo, files: files.length, bytes: total });
  let ok = false;
  try {
    await mapLimit(files, PARALLEL_FILES, async (file, signal) => {
      report({ type: "file", repo, path: file.path, size: file.size });
      const onBytes = (delta: number) => {
        done += delta;
        report({ type: "bytes", repo, done, total });
      };
      await downloadFile({ client, cacheDir, storage, ref, file, onBytes, signal });
    });
    ok = true;
  } finally {
    // Also after a failure: a terminal bar must stop (its timer would keep the process alive).
    report({ type: "end", repo, files: files.length, bytes: done, ok });
  }
}

/**
 * The files `selection` picks from `ref`, in the cache: from the cache alone when the revision is
 * a commit hash already there or when offline, else after asking the hub which commit the
 * revision is and downloading what the cache lacks. Rejects with a {@link HubError}.
 */
export async function fetchSnapshot(ref: RepoRef, selection: Selection, options: HubOptions = {}): Promise<Snapshot> {
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const storage = storageFolder(cacheDir, ref);
  const cached = lookInCache(storage, ref, selection);
  if ("snapshot" in cached && COMMIT_HASH.test(ref.revision)) return cached.snapshot;
  if (options.offline ?? offlineFromEnv()) {
    if ("snapshot" in cached) return cached.snapshot;
    throw new HubError(
      "not_cached",
      `${describeRef(ref)} is not in the cache folder ${storage} (${cached.reason}) and offline mode ` +
        "(HF_HUB_OFFLINE=1 or --offline) forbids downloading it",
    );
  }
  const client = hubClient(options.endpoint ?? hubEndpoint(), options.token ?? hubToken());
  let listing: { commit: string; paths: string[] };
  try {
    listing = await listRevision(client, ref);
  } catch (error) {
    if (error instanceof HubError && CACHE_FALLBACK.has(error.kind) && "snapshot" in cached) {
      process.stderr.write(`lgpo: ${error.message}; using the cached snapshot ${cached.snapshot.commit}\n`);
      return cached.snapshot;
    }
    throw error;
  }
  const { commit } = listing;
  const files = selectOrExplain(selection, listing.paths, ref);
  const dir = snapshotDir(storage, commit);
  const missing = files.filter((path) => !fileExists(`${dir}/${path}`));
  if (missing.length > 0) await download(client, cacheDir, storage, ref, commit, missing, options.progress);
  // After the files, so that offline use never follows a ref to a snapshot this run left partial.
  writeRef(storage, ref.revision, commit);
  return { commit, dir, files };
}
