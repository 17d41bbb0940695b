/** `lgpo-run download` and `--model ID` end to end, through a child process, against a local hub. */
import { spawn } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { REPO_ROOT } from "../data_files.js";
import { TINY_TIED } from "../fixtures.js";
import { FakeHub, closedEndpoint, commitHash } from "./fake_hub.js";
import { hubEnv, restoreEnv } from "./helpers.js";

const BIN = join(REPO_ROOT, "ts/bin/lgpo-run.js");
const MAIN = commitHash("tiny main");
const tinyFiles = Object.fromEntries(readdirSync(TINY_TIED).map((f) => [f, readFileSync(join(TINY_TIED, f))]));

let hub: FakeHub;
beforeAll(async () => {
  hub = await FakeHub.start([
    { type: "model", id: "lgpo/tiny-tied", commits: { [MAIN]: tinyFiles }, refs: { main: MAIN } },
    { type: "model", id: "lgpo/gated", commits: { [MAIN]: tinyFiles }, refs: { main: MAIN }, token: "hf_x" },
    {
      type: "dataset",
      id: "lgpo/math",
      commits: { [MAIN]: { "train.jsonl": Buffer.from('{"problem": "1+1", "answer": "2"}\n') } },
      refs: { main: MAIN },
    },
  ]);
});
afterAll(() => hub.close());
afterEach(restoreEnv);

/** Runs the CLI without blocking the event loop (the hub answers from this process). */
function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("lgpo-run download", () => {
  it("fetches a model into the cache, prints its folder, and reports progress as plain lines off a terminal", async () => {
    const cache = hubEnv(hub.endpoint);
    const r = await run("download", "lgpo/tiny-tied");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${join(cache, "models--lgpo--tiny-tied", "snapshots", MAIN)}\n`);
    expect(r.stderr).toContain("downloading lgpo/tiny-tied@main: 3 file(s)");
    expect(r.stderr).toContain("downloading lgpo/tiny-tied@main: model.safetensors (332.6 kB)");
    // Already there: offline works and nothing is downloaded again.
    const again = await run("download", "lgpo/tiny-tied", "--offline");
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(r.stdout);
    expect(again.stderr).toBe("");
  });

  it("prints a dataset split's files", async () => {
    const cache = hubEnv(hub.endpoint);
    const r = await run("download", "hf://datasets/lgpo/math", "--split", "train");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${join(cache, "datasets--lgpo--math", "snapshots", MAIN, "train.jsonl")}\n`);
  });

  it("exits 2 with one line for a missing id offline, a bad id, 401; 1 when the hub is unreachable", async () => {
    const cache = hubEnv(hub.endpoint);
    const offline = await run("download", "lgpo/absent", "--revision", "v3", "--offline");
    expect(offline.code).toBe(2);
    expect(offline.stderr).toMatch(/^lgpo-run: lgpo\/absent@v3 is not in the cache folder .*offline.*\n$/);
    expect(offline.stderr).toContain(join(cache, "models--lgpo--absent"));
    process.env.HF_HUB_OFFLINE = "1";
    expect((await run("download", "lgpo/absent")).code).toBe(2);
    process.env.HF_HUB_OFFLINE = "";
    const bad = await run("download", "lgpo/-x");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^lgpo-run: "lgpo\/-x" is neither an existing local path nor a Hugging Face id/);
    const gated = await run("download", "lgpo/gated");
    expect(gated.code).toBe(2);
    expect(gated.stderr).toMatch(/^lgpo-run: lgpo\/gated@main: 401 Unauthorized \(.*HF_TOKEN.*\)\n$/);
    process.env.HF_ENDPOINT = await closedEndpoint();
    const down = await run("download", "lgpo/tiny-tied");
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^lgpo-run: lgpo\/tiny-tied@main: cannot reach .*ECONNREFUSED\)\n$/);
  });
});

describe("lgpo-run --help", () => {
  it("documents the hub options of every command that takes a model", async () => {
    for (const command of ["score", "generate", "download"]) {
      const help = (await run(command, "--help")).stdout;
      for (const option of ["--revision", "--offline"]) expect(help, command).toContain(option);
    }
    expect((await run("download", "--help")).stdout).toMatch(/--split[\s\S]*--pattern/);
  });
});

describe("lgpo-run score --model ID", () => {
  it("scores with a downloaded checkpoint exactly as with the local directory", async () => {
    const cache = hubEnv(hub.endpoint);
    const input = join(cache, "..", "ids.jsonl");
    writeFileSync(input, `${JSON.stringify({ prompt_ids: [5, 6, 7], response_ids: [8, 9] })}\n`);
    const local = await run("score", "--model", TINY_TIED, "--input", input);
    expect(local.code, local.stderr).toBe(0);
    const byId = await run("score", "--model", "lgpo/tiny-tied", "--input", input);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toBe(local.stdout);
    const offline = await run("score", "--model", `lgpo/tiny-tied@${MAIN}`, "--offline", "--input", input);
    expect(offline.stdout).toBe(local.stdout);
    const missing = await run("score", "--model", "lgpo/other", "--offline", "--input", input);
    expect(missing.code).toBe(2);
  });
});
