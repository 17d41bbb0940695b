/**
 * A stand-in for the Hugging Face hub on 127.0.0.1, speaking its URL scheme and headers as
 * huggingface_hub relies on them: `/api/{models,datasets}/ID/revision/REV` and `/tree/REV`
 * (paginated with Link headers), `/[datasets/]ID/resolve/REV/PATH` answering HEAD and GET with
 * `X-Repo-Commit` and `ETag` (the git blob id), LFS files (`*.safetensors`, `*.parquet`)
 * redirected to a second server, the "CDN", with `X-Linked-Etag` (sha256) and `X-Linked-Size`,
 * Range requests, 401/403/404 with `X-Error-Code`, and faults on demand: a transfer cut after N
 * bytes, a corrupted body.
 */
import { createHash } from "node:crypto";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

export type RepoType = "model" | "dataset";

/** One repository: its commits (path -> contents), branches and tags, and the token it needs, if any. */
export interface FakeRepo {
  type: RepoType;
  id: string;
  commits: Record<string, Record<string, Buffer>>;
  refs: Record<string, string>;
  /** A gated repository: 401 without a token, 403 with any other. */
  token?: string;
}

export interface LoggedRequest {
  server: "hub" | "cdn";
  method: string;
  url: string;
  authorization?: string;
  range?: string;
}

export function sha256(content: Buffer): string {
  return createHash("sha256").update(content).digest("hex");
}

/** The git blob id, as `git hash-object` computes it. */
export function gitOid(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}

/** A commit hash derived from a label. */
export function commitHash(label: string): string {
  return createHash("sha1").update(label).digest("hex");
}

export const isLfs = (path: string): boolean => /\.(safetensors|parquet)$/.test(path);

const TREE_PAGE = 3;

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  /** Cut the next CDN transfer of a path after this many bytes (once per entry). */
  readonly cutAfter = new Map<string, number[]>();
  /** Paths whose bytes the CDN serves with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** Paths whose CDN transfer sends 1000 bytes and then hangs until the client leaves. */
  readonly stall = new Set<string>();
  endpoint = "";
  cdn = "";
  private readonly hubServer: Server;
  private readonly cdnServer: Server;
  private readonly blobs = new Map<string, { path: string; content: Buffer }>();

  private constructor(readonly repos: FakeRepo[]) {
    this.hubServer = createServer((req, res) => this.hub(req, res));
    this.cdnServer = createServer((req, res) => this.serveCdn(req, res));
    for (const repo of repos) {
      for (const files of Object.values(repo.commits)) {
        for (const [path, content] of Object.entries(files)) this.blobs.set(sha256(content), { path, content });
      }
    }
  }

  static async start(repos: FakeRepo[]): Promise<FakeHub> {
    const hub = new FakeHub(repos);
    hub.endpoint = await listen(hub.hubServer);
    hub.cdn = await listen(hub.cdnServer);
    return hub;
  }

  async close(): Promise<void> {
    this.hubServer.closeAllConnections();
    this.cdnServer.closeAllConnections();
    await Promise.all([
      new Promise((resolve) => this.hubServer.close(resolve)),
      new Promise((resolve) => this.cdnServer.close(resolve)),
    ]);
  }

  /** Requests of one server, optionally of one method. */
  log(server: "hub" | "cdn", method?: string): LoggedRequest[] {
    return this.requests.filter((r) => r.server === server && (method === undefined || r.method === method));
  }

  private record(server: "hub" | "cdn", req: IncomingMessage): void {
    const entry: LoggedRequest = { server, method: req.method ?? "", url: req.url ?? "" };
    if (req.headers.authorization !== undefined) entry.authorization = req.headers.authorization;
    if (req.headers.range !== undefined) entry.range = req.headers.range;
    this.requests.push(entry);
  }

  private findRepo(type: RepoType, id: string): FakeRepo | undefined {
    return this.repos.find((r) => r.type === type && r.id === id);
  }

  /** The repository if the request may see it, else the error already sent. */
  private authorize(req: IncomingMessage, res: ServerResponse, type: RepoType, id: string): FakeRepo | undefined {
    const repo = this.findRepo(type, id);
    const auth = req.headers.authorization;
    if (repo === undefined) {
      // Like the hub: a missing repository looks private to an anonymous caller.
      res.writeHead(auth === undefined ? 401 : 404, { "x-error-code": "RepoNotFound" }).end();
      return undefined;
    }
    if (repo.token !== undefined && auth !== `Bearer ${repo.token}`) {
      res.writeHead(auth === undefined ? 401 : 403, { "x-error-code": "GatedRepo" }).end();
      return undefined;
    }
    return repo;
  }

  private commitOf(repo: FakeRepo, revision: string): string | undefined {
    return repo.commits[revision] !== undefined ? revision : repo.refs[revision];
  }

  private hub(req: IncomingMessage, res: ServerResponse): void {
    this.record("hub", req);
    const url = new URL(req.url ?? "/", this.endpoint);
    const path = decodeURIComponent(url.pathname);
    const api = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/(revision|tree)\/(.+)$/.exec(url.pathname);
    if (api !== null) {
      const type = api[1] === "models" ? "model" : "dataset";
      const repo = this.authorize(req, res, type, api[2]!);
      if (repo === undefined) return;
      const commit = this.commitOf(repo, decodeURIComponent(api[4]!));
      if (commit === undefined) {
        res.writeHead(404, { "x-error-code": "RevisionNotFound", "content-type": "application/json" });
        res.end(JSON.stringify({ error: `Invalid rev id: ${api[4]}` }));
        return;
      }
      if (api[3] === "revision") this.json(res, { _id: "x", id: repo.id, sha: commit, private: false });
      else this.tree(res, url, repo, commit);
      return;
    }
    const resolve = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve === null) {
      res.writeHead(404).end();
      return;
    }
    const repo = this.authorize(req, res, resolve[1] === undefined ? "model" : "dataset", resolve[2]!);
    if (repo === undefined) return;
    const commit = this.commitOf(repo, resolve[3]!);
    if (commit === undefined) {
      res.writeHead(404, { "x-error-code": "RevisionNotFound" }).end();
      return;
    }
    const file = resolve[4]!;
    const content = repo.commits[commit]![file];
    if (content === undefined) {
      res.writeHead(404, { "x-error-code": "EntryNotFound", "x-repo-commit": commit }).end();
      return;
    }
    if (isLfs(file)) {
      const sha = sha256(content);
      res.writeHead(302, {
        location: `${this.cdn}/blobs/${sha}?signature=abc`,
        "x-repo-commit": commit,
        "x-linked-etag": `"${sha}"`,
        "x-linked-size": String(content.length),
        etag: `"${gitOid(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\n`))}"`,
        "content-length": "0",
      });
      res.end();
      return;
    }
    this.sendBytes(req, res, content, { etag: `"${gitOid(content)}"`, "x-repo-commit": commit });
  }

  private tree(res: ServerResponse, url: URL, repo: FakeRepo, commit: string): void {
    const files = Object.entries(repo.commits[commit]!).sort(([a], [b]) => a.localeCompare(b));
    const entries = files.map(([path, content]) => ({
      type: "file",
      path,
      size: content.length,
      oid: gitOid(content),
      ...(isLfs(path) ? { lfs: { oid: sha256(content), size: content.length, pointerSize: 130 } } : {}),
    }));
    // The tree API lists folders too.
    const folders = [...new Set(files.flatMap(([p]) => (p.includes("/") ? [p.slice(0, p.lastIndexOf("/"))] : [])))];
    const all = [...folders.map((path) => ({ type: "directory", path, size: 0, oid: commitHash(path) })), ...entries];
    const cursor = Number(url.searchParams.get("cursor") ?? 0);
    const headers: Record<string, string> = {};
    if (cursor + TREE_PAGE < all.length) {
      const next = new URL(url.href);
      next.searchParams.set("cursor", String(cursor + TREE_PAGE));
      headers.link = `<${next.href}>; rel="next"`;
    }
    this.json(res, all.slice(cursor, cursor + TREE_PAGE), headers);
  }

  private json(res: ServerResponse, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(200, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  }

  private serveCdn(req: IncomingMessage, res: ServerResponse): void {
    this.record("cdn", req);
    const match = /^\/blobs\/([0-9a-f]{64})/.exec(req.url ?? "");
    const blob = match === null ? undefined : this.blobs.get(match[1]!);
    if (blob === undefined) {
      res.writeHead(404).end();
      return;
    }
    let content = blob.content;
    if (this.corrupt.has(blob.path)) {
      content = Buffer.from(content);
      content[content.length >> 1]! ^= 0xff;
    }
    if (this.stall.has(blob.path)) {
      res.writeHead(200, { "content-length": String(content.length) });
      res.write(content.subarray(0, 1000));
      return;
    }
    this.sendBytes(req, res, content, {}, this.cutAfter.get(blob.path)?.shift());
  }

  /** The bytes, honouring `Range: bytes=N-`, cut after `cut` bytes of body when given. */
  private sendBytes(
    req: IncomingMessage,
    res: ServerResponse,
    content: Buffer,
    headers: Record<string, string>,
    cut?: number,
  ): void {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = range === null ? 0 : Number(range[1]);
    if (start >= content.length && range !== null) {
      res.writeHead(416, { "content-range": `bytes */${content.length}` }).end();
      return;
    }
    const body = content.subarray(start);
    res.writeHead(range === null ? 200 : 206, {
      ...headers,
      "accept-ranges": "bytes",
      "content-length": String(body.length),
      ...(range === null ? {} : { "content-range": `bytes ${start}-${content.length - 1}/${content.length}` }),
    });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    if (cut === undefined || cut >= body.length) {
      res.end(body);
      return;
    }
    // Break the connection a moment after the bytes went out, so that the client has read them
    // (destroyed at once, the reset can overtake the data in the client's stream).
    res.write(body.subarray(0, cut), () => setTimeout(() => res.destroy(), 50));
  }
}

/** A port nothing listens on: for "the hub cannot be reached". */
export async function closedEndpoint(): Promise<string> {
  const server = createServer();
  const url = await listen(server);
  await new Promise((resolve) => server.close(resolve));
  return url;
}
