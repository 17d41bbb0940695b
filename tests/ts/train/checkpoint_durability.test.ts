/** Checkpoint durability: every file and the renamed directory reach the disk before `latest` moves. */
import { mkdtempSync, rmSync } from "node:fs";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";

/** What the checkpoint code did, in order: fsyncs (by path), renames. */
const events: string[] = [];

vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  const paths = new Map<number, string>();
  return {
    ...real,
    openSync: (path: string, ...rest: unknown[]) => {
      const fd = (real.openSync as (...a: unknown[]) => number)(path, ...rest);
      paths.set(fd, String(path));
      return fd;
    },
    fsyncSync: (fd: number) => {
      events.push(`fsync ${paths.get(fd)}`);
      real.fsyncSync(fd);
    },
    renameSync: (from: string, to: string) => {
      events.push(`rename ${from} -> ${to}`);
      real.renameSync(from, to);
    },
  };
});

const { saveCheckpoint } = await import("../../../ts/src/trainer/checkpoint.js");

const tmp = mkdtempSync(join(tmpdir(), "lgpo-durable-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Stands in for a Policy: writes a model file and an optimizer file as the core would. */
const policy = {
  async save(dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(join(dir, "model.safetensors"), "weights");
    fs.writeFileSync(join(dir, "config.json"), "{}");
  },
  async saveOptimizer(path: string) {
    fs.writeFileSync(path, "moments");
  },
};

describe("saveCheckpoint", () => {
  it("fsyncs every file and the staging directory before renaming it, and the folder before `latest`", async () => {
    const state = { step: 3 } as Parameters<typeof saveCheckpoint>[2];
    const dir = await saveCheckpoint(tmp, policy as never, state, { dtype: "f32", keepLast: 2 });
    const root = join(tmp, "checkpoints");
    const renameDir = events.findIndex((e) => e.startsWith("rename ") && e.endsWith(` -> ${dir}`));
    expect(renameDir).toBeGreaterThan(0);
    const staging = events[renameDir]!.slice("rename ".length).split(" -> ")[0]!;
    for (const f of ["model.safetensors", "config.json", "optimizer.safetensors", "trainer_state.json"]) {
      const at = events.indexOf(`fsync ${join(staging, f)}`);
      expect(at, f).toBeGreaterThanOrEqual(0);
      expect(at, f).toBeLessThan(renameDir);
    }
    expect(events.indexOf(`fsync ${staging}`)).toBeLessThan(renameDir);
    const renameLatest = events.findIndex((e) => e.endsWith(` -> ${join(root, "latest")}`));
    const rootSynced = events.indexOf(`fsync ${root}`);
    expect(rootSynced).toBeGreaterThan(renameDir);
    expect(rootSynced).toBeLessThan(renameLatest);
    expect(fs.readFileSync(join(root, "latest"), "utf8")).toBe("step-3\n");
  });
});
