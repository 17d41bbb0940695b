/**
 * Checks that lgpo and huggingface_hub share one cache: each fills a cache from the same local
 * fake hub, the two trees must be identical (blob names, symlink targets, refs), and each must
 * find the other's download offline. Run by python_interop.sh (needs huggingface_hub).
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { FakeHub, commitHash } from "../../tests/ts/hub/fake_hub.js";
import { resolveDataset, resolveModel } from "../../ts/src/index.js";

const PYTHON = process.env.PYTHON ?? "python3";
const SCRIPT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "python_interop.py");
const MAIN = commitHash("interop");
const weights = Buffer.alloc(200_000).map((_, i) => (i * 31) % 256);

/** Runs the Python side without blocking this process, which serves the fake hub. */
async function python(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(PYTHON, [SCRIPT, ...args], { encoding: "utf8" });
  return stdout.trim();
}

/** Every file and link of a repository folder in a cache, with link targets and ref contents. */
function describeTree(storage: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const r = rel === "" ? name : `${rel}/${name}`;
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(path)}`);
      else if (stat.isDirectory()) walk(path, r);
      else out.push(r.startsWith("refs/") ? `${r} = ${readFileSync(path, "utf8")}` : `${r} (${stat.size} bytes)`);
    }
  };
  walk(storage, "");
  // Python's bookkeeping beside the layout: lock files and its cached tree listings.
  return out.filter((l) => !l.startsWith(".") && !l.startsWith("trees/"));
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`interop check failed: ${message}`);
  console.log(`ok: ${message}`);
}

const hub = await FakeHub.start([
  {
    type: "model",
    id: "org/tiny",
    commits: {
      [MAIN]: {
        "config.json": Buffer.from('{"model_type": "qwen2"}\n'),
        "generation_config.json": Buffer.from('{"eos_token_id": 2}\n'),
        "tokenizer.json": Buffer.from('{"model": {}}\n'),
        "model.safetensors": weights,
      },
    },
    refs: { main: MAIN },
  },
  {
    type: "dataset",
    id: "org/data",
    commits: { [MAIN]: { "data/train-0.jsonl": Buffer.from('{"x": 1}\n'), "README.md": Buffer.from("# d\n") } },
    refs: { main: MAIN },
  },
]);
const work = mkdtempSync(join(tmpdir(), "lgpo-interop-"));
try {
  const byLgpo = join(work, "lgpo");
  const byPython = join(work, "python");
  const model = await resolveModel("org/tiny", { cacheDir: byLgpo, endpoint: hub.endpoint, progress: false });
  const [dataFile] = await resolveDataset("hf://datasets/org/data", {
    cacheDir: byLgpo,
    endpoint: hub.endpoint,
    progress: false,
  });
  const pyModel = await python("download", hub.endpoint, byPython, "model", "org/tiny", "*.json", "*.safetensors");
  await python("download", hub.endpoint, byPython, "dataset", "org/data", "data/*.jsonl");

  for (const folder of ["models--org--tiny", "datasets--org--data"]) {
    const a = describeTree(join(byLgpo, folder));
    const b = describeTree(join(byPython, folder));
    check(JSON.stringify(a) === JSON.stringify(b), `${folder}: identical trees\n  ${a.join("\n  ")}`);
  }
  check(pyModel === model.replace(byLgpo, byPython), "the same snapshot folder");

  const seen = JSON.parse(await python("offline", byLgpo, "model", "org/tiny", "main"));
  check(seen.path === model, "huggingface_hub finds lgpo's model offline");
  check(seen.warnings.length === 0, "scan_cache_dir reports no corruption in lgpo's cache");
  const seenData = JSON.parse(await python("offline", byLgpo, "dataset", "org/data", "main"));
  check(join(seenData.path, "data", "train-0.jsonl") === dataFile, "huggingface_hub finds lgpo's dataset offline");

  hub.requests.length = 0;
  const offline = await resolveModel("org/tiny", { cacheDir: byPython, offline: true, progress: false });
  check(offline === pyModel, "lgpo finds huggingface_hub's model offline");
  const offlineData = await resolveDataset("hf://datasets/org/data", { cacheDir: byPython, offline: true });
  check(offlineData[0] === join(byPython, "datasets--org--data", "snapshots", MAIN, "data", "train-0.jsonl"), "lgpo finds huggingface_hub's dataset offline");
  check(hub.requests.length === 0, "no request offline");
} finally {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
}
