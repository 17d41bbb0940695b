/** Downloads into the hub cache, against a local server speaking the hub's protocol. */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { type DownloadEvent, resolveModel } from "../../../ts/src/index.js";
import { hubEnv, rejection, restoreEnv } from "./helpers.js";
import { FakeHub, closedEndpoint, commitHash, gitOid, sha256 } from "./fake_hub.js";

const MAIN = commitHash("main");
const DEV = commitHash("dev");
const weights = Buffer.alloc(300_000, 0).map((_, i) => (i * 7919) % 251);
const files = {
  "config.json": Buffer.from('{"model_type": "qwen2"}\n'),
  "generation_config.json": Buffer.from('{"eos_token_id": 2}\n'),
  "tokenizer.json": Buffer.from('{"model": {}}\n'),
  "model.safetensors": weights,
  "pytorch_model.bin": Buffer.from("pickle, never fetched"),
  "README.md": Buffer.from("# a model\n"),
  "onnx/model.onnx": Buffer.from("not wanted"),
};
const shardTwo = Buffer.concat([weights, Buffer.from("two")]);
const devFiles = { ...files, "config.json": Buffer.from('{"model_type": "qwen2", "dev": true}\n') };

let hub: FakeHub;
beforeAll(async () => {
  hub = await FakeHub.start([
    { type: "model", id: "org/tiny", commits: { [MAIN]: files, [DEV]: devFiles }, refs: { main: MAIN, dev: DEV } },
    { type: "model", id: "org/gated", commits: { [MAIN]: files }, refs: { main: MAIN }, token: "hf_secret" },
    {
      type: "model",
      id: "org/two-shards",
      commits: {
        [MAIN]: {
          "config.json": files["config.json"],
          "model.safetensors.index.json": Buffer.from(
            '{"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}',
          ),
          "model-1.safetensors": Buffer.from("shard one"),
          "model-2.safetensors": shardTwo,
        },
      },
      refs: { main: MAIN },
    },
    {
      type: "model",
      id: "org/pickles",
      commits: { [MAIN]: { "config.json": files["config.json"], "pytorch_model.bin": files["pytorch_model.bin"] } },
      refs: { main: MAIN },
    },
  ]);
});
afterAll(() => hub.close());
afterEach(() => {
  restoreEnv();
  hub.requests.length = 0;
  hub.cutAfter.clear();
  hub.corrupt.clear();
  hub.stall.clear();
});

const quiet = { progress: false } as const;

/** Every path under `dir`, relative. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

describe("resolveModel downloads", () => {
  it("fills the cache as huggingface_hub does: refs, blobs named by etag, relative snapshot symlinks", async () => {
    const cache = hubEnv(hub.endpoint);
    const dir = await resolveModel("org/tiny", quiet);
    const storage = join(cache, "models--org--tiny");
    expect(dir).toBe(join(storage, "snapshots", MAIN));
    expect(readFileSync(join(storage, "refs", "main"), "utf8")).toBe(MAIN);
    expect(readdirSync(dir).sort()).toEqual([
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
    ]);
    expect(readlinkSync(join(dir, "model.safetensors"))).toBe(`../../blobs/${sha256(weights)}`);
    expect(readlinkSync(join(dir, "config.json"))).toBe(`../../blobs/${gitOid(files["config.json"])}`);
    expect(readFileSync(join(dir, "model.safetensors")).equals(weights)).toBe(true);
    expect(tree(join(storage, "blobs")).some((p) => p.endsWith(".incomplete"))).toBe(false);
    // Pickles, the README and subfolders are never requested.
    const fetched = hub.log("hub", "HEAD").map((r) => r.url);
    expect(fetched.some((u) => /\.bin|README|onnx/.test(u))).toBe(false);
    expect(fetched.every((u) => u.includes(`/resolve/${MAIN}/`))).toBe(true);
  });

  it("sends the token to the hub but never to the CDN the weights redirect to", async () => {
    hubEnv(hub.endpoint);
    const dir = await resolveModel("org/gated", { ...quiet, token: "hf_secret" });
    expect(readFileSync(join(dir, "model.safetensors")).equals(weights)).toBe(true);
    expect(hub.log("hub").every((r) => r.authorization === "Bearer hf_secret")).toBe(true);
    expect(hub.log("cdn").length).toBe(1);
    expect(hub.log("cdn")[0]!.authorization).toBeUndefined();
  });

  it("reads HF_TOKEN and HF_ENDPOINT from the environment", async () => {
    hubEnv(hub.endpoint);
    process.env.HF_TOKEN = "hf_secret";
    await expect(resolveModel("org/gated", quiet)).resolves.toContain("models--org--gated");
  });

  it("uses a cached commit without the network, and asks the hub only which commit a branch is", async () => {
    hubEnv(hub.endpoint);
    await resolveModel("org/tiny", quiet);
    hub.requests.length = 0;
    await resolveModel(`org/tiny@${MAIN}`, quiet);
    expect(hub.requests).toEqual([]);
    await resolveModel("org/tiny", quiet);
    expect(hub.log("hub", "HEAD")).toEqual([]);
    expect(hub.log("cdn")).toEqual([]);
  });

  it("takes a branch from @revision or the revision option, and records it in refs/", async () => {
    const cache = hubEnv(hub.endpoint);
    const dir = await resolveModel("org/tiny@dev", quiet);
    expect(dir.endsWith(DEV)).toBe(true);
    expect(readFileSync(join(dir, "config.json"), "utf8")).toContain('"dev": true');
    expect(readFileSync(join(cache, "models--org--tiny", "refs", "dev"), "utf8")).toBe(DEV);
    expect(await resolveModel("org/tiny", { ...quiet, revision: "dev" })).toBe(dir);
    // Both share the weights blob: only one CDN transfer.
    await resolveModel("org/tiny", quiet);
    expect(hub.log("cdn").length).toBe(1);
  });

  it("resumes a transfer cut midway with a Range request", async () => {
    const cache = hubEnv(hub.endpoint);
    hub.cutAfter.set("model.safetensors", [100_000]);
    const dir = await resolveModel("org/tiny", quiet);
    expect(readFileSync(join(dir, "model.safetensors")).equals(weights)).toBe(true);
    const cdn = hub.log("cdn");
    expect(cdn.map((r) => r.range)).toEqual([undefined, "bytes=100000-"]);
    expect(tree(join(cache, "models--org--tiny", "blobs")).some((p) => p.endsWith(".incomplete"))).toBe(false);
  });

  it("resumes the partial file an earlier run left, fetching only the rest", async () => {
    const cache = hubEnv(hub.endpoint);
    const blobs = join(cache, "models--org--tiny", "blobs");
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${sha256(weights)}.incomplete`), weights.subarray(0, 123_456));
    const events: DownloadEvent[] = [];
    const dir = await resolveModel("org/tiny", { progress: (e) => events.push(e) });
    expect(readFileSync(join(dir, "model.safetensors")).equals(weights)).toBe(true);
    expect(hub.log("cdn").map((r) => r.range)).toEqual(["bytes=123456-"]);
    const total = events.find((e) => e.type === "start");
    expect(total).toMatchObject({ files: 4 });
    const last = events.filter((e) => e.type === "bytes").at(-1);
    expect(last).toMatchObject({ done: (total as { bytes: number }).bytes });
    expect(events.at(-1)).toMatchObject({ type: "end", ok: true });
  });

  it("gives up after repeated cuts, keeping only the .incomplete file for the next run", async () => {
    const cache = hubEnv(hub.endpoint);
    hub.cutAfter.set("model.safetensors", [10, 0, 0, 0, 0, 0]);
    const error = await rejection(resolveModel("org/tiny", quiet));
    expect(error.kind).toBe("network");
    expect(error.badInput).toBe(false);
    const storage = join(cache, "models--org--tiny");
    expect(tree(join(storage, "blobs")).filter((p) => p.includes(sha256(weights)))).toEqual([
      `${sha256(weights)}.incomplete`,
    ]);
    expect(existsSync(join(storage, "snapshots", MAIN, "model.safetensors"))).toBe(false);
    expect(existsSync(join(storage, "refs", "main"))).toBe(false);
    // The next run picks up at byte 10. (Other files may be fetched after the weights: the
    // downloads run concurrently, so look at the weights' own requests.)
    const before = hub.log("cdn").length;
    await resolveModel("org/tiny", quiet);
    const weightsUrl = hub.log("cdn").find((r) => r.range === "bytes=10-")!.url;
    const again = hub
      .log("cdn")
      .slice(before)
      .filter((r) => r.url === weightsUrl);
    expect(again.length).toBeGreaterThan(0);
    expect(new Set(again.map((r) => r.range))).toEqual(new Set(["bytes=10-"]));
  });

  it("rejects a corrupted file and leaves nothing of it in the cache", async () => {
    const cache = hubEnv(hub.endpoint);
    hub.corrupt.add("model.safetensors");
    const error = await rejection(resolveModel("org/tiny", quiet));
    expect(error.kind).toBe("integrity");
    expect(error.message).toContain("model.safetensors");
    const storage = join(cache, "models--org--tiny");
    expect(tree(join(storage, "blobs")).filter((p) => p.includes(sha256(weights)))).toEqual([]);
    expect(existsSync(join(storage, "snapshots", MAIN, "model.safetensors"))).toBe(false);
    expect(existsSync(join(storage, "refs", "main"))).toBe(false);
  });

  it("lets concurrent downloads of one blob share a single transfer, and takes over a dead owner's lock", async () => {
    const cache = hubEnv(hub.endpoint);
    const locks = join(cache, ".locks", "models--org--tiny");
    mkdirSync(locks, { recursive: true });
    writeFileSync(join(locks, `${sha256(weights)}.lgpo.lock`), "999999999"); // no such process
    const [a, b] = await Promise.all([resolveModel("org/tiny", quiet), resolveModel("org/tiny", quiet)]);
    expect(a).toBe(b);
    expect(readFileSync(join(a, "model.safetensors")).equals(weights)).toBe(true);
    expect(hub.log("cdn").length).toBe(1);
    expect(tree(locks)).toEqual([]);
  });

  it("stops the other transfers when one file fails", async () => {
    const cache = hubEnv(hub.endpoint);
    hub.corrupt.add("model-1.safetensors");
    hub.stall.add("model-2.safetensors");
    // Settles only because the stalled transfer is aborted.
    const events: DownloadEvent[] = [];
    const error = await rejection(resolveModel("org/two-shards", { progress: (e) => events.push(e) }));
    expect(error.kind).toBe("integrity");
    expect(events.at(-1)).toMatchObject({ type: "end", ok: false });
    const storage = join(cache, "models--org--two-shards");
    const blobs = tree(join(storage, "blobs"));
    expect(blobs).not.toContain(sha256(shardTwo));
    expect(blobs).not.toContain(sha256(Buffer.from("shard one")));
    expect(blobs).not.toContain(`${sha256(Buffer.from("shard one"))}.incomplete`);
    expect(existsSync(join(storage, "snapshots", MAIN, "model-2.safetensors"))).toBe(false);
    expect(existsSync(join(storage, "refs", "main"))).toBe(false);
  });

  it("answers 401, 403 and 404 with one line naming the id and revision, writing nothing", async () => {
    const cache = hubEnv(hub.endpoint);
    const cases = [
      [resolveModel("org/gated", quiet), "unauthorized", /org\/gated@main: 401 .*HF_TOKEN/],
      [resolveModel("org/gated", { ...quiet, token: "hf_wrong" }), "forbidden", /org\/gated@main: 403 /],
      [resolveModel("org/nope", { ...quiet, token: "hf_secret" }), "not_found", /org\/nope@main: 404 /],
      [resolveModel("org/tiny@v9", quiet), "not_found", /org\/tiny@v9: 404 .*revision/],
      [resolveModel("org/pickles", quiet), "no_files", /org\/pickles@main has no safetensors .*pytorch_model\.bin/],
    ] as const;
    for (const [promise, kind, message] of cases) {
      const error = await rejection(promise);
      expect(error.kind).toBe(kind);
      expect(error.badInput).toBe(true);
      expect(error.message).toMatch(message);
      expect(error.message).not.toContain("\n");
    }
    expect(existsSync(cache)).toBe(false);
  });

  it("reports an unreachable hub in one line, and falls back to a complete cached snapshot", async () => {
    const cache = hubEnv(await closedEndpoint());
    const error = await rejection(resolveModel("org/tiny", quiet));
    expect(error.kind).toBe("network");
    expect(error.message).toMatch(/org\/tiny@main: cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(existsSync(cache)).toBe(false);
    process.env.HF_ENDPOINT = hub.endpoint;
    const dir = await resolveModel("org/tiny", quiet);
    process.env.HF_ENDPOINT = await closedEndpoint();
    expect(await resolveModel("org/tiny", quiet)).toBe(dir);
  });

  it("computes the git blob id that names non-LFS blobs as git does", () => {
    const git = spawnSync("git", ["hash-object", "--stdin"], { input: files["config.json"], encoding: "utf8" });
    if (git.error !== undefined) return; // no git on this machine: nothing to compare with
    expect(gitOid(files["config.json"])).toBe(git.stdout.trim());
  });
});
