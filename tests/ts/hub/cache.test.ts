/** Resolution from a cache tree laid out as huggingface_hub writes it; offline behaviour; cache location. */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";

import { hubCacheDir, resolveModel } from "../../../ts/src/index.js";
import { hubEnv, rejection, restoreEnv } from "./helpers.js";
import { closedEndpoint, commitHash, gitOid, sha256 } from "./fake_hub.js";

const C1 = commitHash("c1");
const C2 = commitHash("c2");

/** Writes `files` as blobs and a snapshot of `commit` whose entries are relative symlinks, as huggingface_hub does. */
function layOut(storage: string, commit: string, files: Record<string, string>): void {
  mkdirSync(join(storage, "blobs"), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    const content = Buffer.from(text);
    const etag = path.endsWith(".safetensors") ? sha256(content) : gitOid(content);
    writeFileSync(join(storage, "blobs", etag), content);
    const pointer = join(storage, "snapshots", commit, path);
    mkdirSync(join(pointer, ".."), { recursive: true });
    symlinkSync(`${"../".repeat(path.split("/").length + 1)}blobs/${etag}`, pointer);
  }
}

function ref(storage: string, name: string, commit: string): void {
  mkdirSync(join(storage, "refs"), { recursive: true });
  writeFileSync(join(storage, "refs", name), commit);
}

/** A cache with org/cached at main = C1 and dev = C2, and org/sharded missing one of its shards. */
async function cacheTree(): Promise<string> {
  const cache = hubEnv(await closedEndpoint());
  const cached = join(cache, "models--org--cached");
  layOut(cached, C1, { "config.json": '{"v": 1}', "model.safetensors": "weights" });
  layOut(cached, C2, { "config.json": '{"v": 2}', "model.safetensors": "weights" });
  ref(cached, "main", C1);
  ref(cached, "dev", C2);
  const sharded = join(cache, "models--org--sharded");
  const index = JSON.stringify({
    weight_map: { a: "model-00001-of-00002.safetensors", b: "model-00002-of-00002.safetensors" },
  });
  layOut(sharded, C1, {
    "config.json": "{}",
    "model.safetensors.index.json": index,
    "model-00001-of-00002.safetensors": "shard 1",
  });
  ref(sharded, "main", C1);
  return cache;
}

afterEach(restoreEnv);

describe("resolveModel from the cache", () => {
  it("follows refs/<branch> to its snapshot, or takes a commit directly", async () => {
    const cache = await cacheTree();
    const snapshots = join(cache, "models--org--cached", "snapshots");
    expect(await resolveModel("org/cached", { offline: true })).toBe(join(snapshots, C1));
    expect(await resolveModel("org/cached@dev", { offline: true })).toBe(join(snapshots, C2));
    expect(await resolveModel("org/cached", { offline: true, revision: "dev" })).toBe(join(snapshots, C2));
    expect(await resolveModel(`org/cached@${C2}`, { offline: true })).toBe(join(snapshots, C2));
  });

  it("needs no network for a cached commit even when online", async () => {
    const cache = await cacheTree();
    expect(await resolveModel(`org/cached@${C1}`)).toBe(join(cache, "models--org--cached", "snapshots", C1));
  });

  it("honours HF_HUB_OFFLINE", async () => {
    await cacheTree();
    for (const value of ["1", "ON", "yes", "True"]) {
      vi.stubEnv("HF_HUB_OFFLINE", value);
      await expect(resolveModel("org/cached")).resolves.toContain(C1);
      const error = await rejection(resolveModel("org/absent"));
      expect(error.kind).toBe("not_cached");
    }
  });

  it("offline, fails naming the id, the revision and the cache folder it looked in", async () => {
    const cache = await cacheTree();
    const missing = await rejection(resolveModel("org/absent", { offline: true }));
    expect(missing.kind).toBe("not_cached");
    expect(missing.badInput).toBe(true);
    expect(missing.message).toContain("org/absent@main");
    expect(missing.message).toContain(join(cache, "models--org--absent"));
    expect(missing.message).toMatch(/offline/);
    const revision = await rejection(resolveModel("org/cached@v2", { offline: true }));
    expect(revision.message).toContain("org/cached@v2");
    expect(revision.message).toContain("no refs/v2");
  });

  it("does not take a snapshot with a missing shard or a dangling symlink", async () => {
    const cache = await cacheTree();
    const shard = await rejection(resolveModel("org/sharded", { offline: true }));
    expect(shard.message).toMatch(/incomplete/);
    rmSync(join(cache, "models--org--cached", "blobs", sha256(Buffer.from("weights"))));
    const dangling = await rejection(resolveModel("org/cached", { offline: true }));
    expect(dangling.message).toMatch(/no safetensors weights/);
  });

  it("prefers an existing local path, and names text that is neither a path nor an id", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lgpo-local-"));
    try {
      expect(await resolveModel(dir, { offline: true })).toBe(dir);
      await expect(resolveModel(dir, { revision: "dev" })).rejects.toThrow(/applies to hub ids/);
      const error = await rejection(resolveModel(join(dir, "missing"), { offline: true }));
      expect(error.kind).toBe("bad_id");
      expect(error.message).toBe(`${join(dir, "missing")}: no such checkpoint directory (no config.json)`);
      const neither = await rejection(resolveModel("not an id", { offline: true }));
      expect(neither.message).toContain("neither an existing local path nor a Hugging Face id");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("hubCacheDir", () => {
  it("is HF_HUB_CACHE, else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub", () => {
    vi.stubEnv("HF_HUB_CACHE", "/a/cache");
    vi.stubEnv("HF_HOME", "/b/home");
    vi.stubEnv("XDG_CACHE_HOME", "/c/xdg");
    expect(hubCacheDir()).toBe("/a/cache");
    vi.stubEnv("HF_HUB_CACHE", "");
    expect(hubCacheDir()).toBe("/b/home/hub");
    vi.stubEnv("HF_HOME", "");
    expect(hubCacheDir()).toBe("/c/xdg/huggingface/hub");
    vi.unstubAllEnvs();
  });
});
