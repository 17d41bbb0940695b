/**
 * HTTP with the hub: the token only ever goes to the hub's own origin (never to the CDN a file
 * redirects to), one metadata request per file as huggingface_hub makes it, and every failure
 * turned into a one-line {@link HubError}.
 */
import { VERSION } from "../version.js";
import { HubError } from "./errors.js";
import type { RepoRef } from "./repo_id.js";

/** Where and how to reach the hub. */
export interface HubClient {
  /** Base URL, without a trailing slash (`HF_ENDPOINT`). */
  endpoint: string;
  /** `fetch` that adds the token to requests for `endpoint`'s origin only. */
  fetch: typeof fetch;
}

/** What the hub says about one file at one revision. */
export interface RemoteFile {
  /** Path inside the repository. */
  path: string;
  /** The commit the revision pointed at (`X-Repo-Commit`). */
  commit: string;
  /** sha256 for LFS files, the git blob id for the others: the blob's name in the cache. */
  etag: string;
  size: number;
  /** Where to GET the bytes: the CDN location of a redirect, else the resolve URL. */
  url: string;
}

/** A client for `endpoint`; `token` (if any) is sent as a bearer token to that origin only. */
export function hubClient(endpoint: string, token: string | undefined, base: typeof fetch = fetch): HubClient {
  const origin = new URL(endpoint).origin;
  const userAgent = `lgpo/${VERSION}; node/${process.versions.node}`;
  const hubFetch: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const headers = new Headers(init?.headers);
    if (!headers.has("user-agent")) headers.set("user-agent", userAgent);
    if (token !== undefined && new URL(url).origin === origin) headers.set("authorization", `Bearer ${token}`);
    else headers.delete("authorization");
    return base(input, { ...init, headers });
  };
  return { endpoint, fetch: hubFetch };
}

/** The URL huggingface_hub's `hf_hub_url` builds for a file. */
export function resolveUrl(endpoint: string, ref: RepoRef, revision: string, path: string): string {
  const prefix = ref.type === "dataset" ? "datasets/" : "";
  const file = path.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${prefix}${ref.id}/resolve/${encodeURIComponent(revision)}/${file}`;
}

/** A `HubError` for an HTTP status, naming `what` (a repository, revision or file). */
export function statusError(status: number, errorCode: string | null, what: string): HubError {
  if (status === 401) {
    const hint =
      errorCode === "RepoNotFound"
        ? "no such repository, or it is private or gated and needs a token: set HF_TOKEN"
        : "the repository is private or gated: set HF_TOKEN to a token with read access";
    return new HubError("unauthorized", `${what}: 401 Unauthorized (${hint})`);
  }
  if (status === 403) {
    return new HubError(
      "forbidden",
      `${what}: 403 Forbidden (the token has no access; for a gated repository, accept its terms on the hub)`,
    );
  }
  if (status === 404) {
    const hint =
      errorCode === "RevisionNotFound"
        ? "no such revision"
        : errorCode === "EntryNotFound"
          ? "no such file at this revision"
          : "no such repository or revision";
    return new HubError("not_found", `${what}: 404 Not Found (${hint})`);
  }
  return new HubError("server", `${what}: the hub answered HTTP ${status}`);
}

/** A `HubError` for a request that got no answer (DNS, refused connection, reset, timeout). */
export function networkError(error: unknown, what: string, url: string): HubError {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  return new HubError("network", `${what}: cannot reach ${new URL(url).origin} (${reason})`, { cause: error });
}

/** `fetch` with network failures turned into `HubError`s. */
export async function request(client: HubClient, url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await client.fetch(url, init);
  } catch (error) {
    if (init.signal?.aborted) throw error; // the caller stopped it: not a network failure
    throw networkError(error, what, url);
  }
}

function normalizeEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

function intHeader(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

const MAX_RELATIVE_REDIRECTS = 10;

/**
 * Metadata of `path` at `revision` from a HEAD on its resolve URL, read as huggingface_hub's
 * `get_hf_file_metadata` reads it: relative redirects (renamed repositories) are followed, an
 * absolute one (the CDN) is not, and its `Location` becomes the download URL.
 */
export async function fileMetadata(
  client: HubClient,
  ref: RepoRef,
  revision: string,
  path: string,
): Promise<RemoteFile> {
  const what = `${ref.id}@${revision}: ${path}`;
  let url = resolveUrl(client.endpoint, ref, revision, path);
  for (let hop = 0; ; hop++) {
    const response = await request(
      client,
      url,
      { method: "HEAD", redirect: "manual", headers: { "accept-encoding": "identity" } },
      what,
    );
    const location = response.headers.get("location");
    const redirect = response.status >= 300 && response.status < 400 && location !== null;
    if (redirect && location.startsWith("/") && hop < MAX_RELATIVE_REDIRECTS) {
      url = new URL(location, url).href;
      continue;
    }
    if (!response.ok && !redirect) throw statusError(response.status, response.headers.get("x-error-code"), what);
    const commit = response.headers.get("x-repo-commit");
    const etag = normalizeEtag(response.headers.get("x-linked-etag") ?? response.headers.get("etag"));
    const size =
      intHeader(response.headers.get("x-linked-size")) ??
      (redirect ? undefined : intHeader(response.headers.get("content-length")));
    if (commit === null || etag === undefined || size === undefined) {
      const missing = [commit === null && "X-Repo-Commit", etag === undefined && "ETag", size === undefined && "size"];
      throw new HubError(
        "server",
        `${what}: the answer of ${new URL(url).origin} lacks ${missing.filter(Boolean).join(", ")}; is HF_ENDPOINT a Hugging Face hub?`,
      );
    }
    return { path, commit, etag, size, url: redirect ? new URL(location, url).href : url };
  }
}
