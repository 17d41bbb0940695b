/** Datasets by hf://datasets/ address: split selection, download into the cache, reading JSONL and Parquet. */
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteBuffer } from "hyparquet-writer";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

import { readRecords, resolveDataset } from "../../../ts/src/index.js";
import { dataFiles } from "../../../ts/src/hub/dataset.js";
import { FakeHub, commitHash, sha256 } from "./fake_hub.js";
import { hubEnv, rejection, restoreEnv } from "./helpers.js";

const MAIN = commitHash("data main");
const V1 = commitHash("data v1");

function countdownParquet(rows: { target: bigint; nums: number[] }[]): Buffer {
  const columnData = [
    { name: "target", data: rows.map((r) => r.target), type: "INT64" as const },
    { name: "nums", data: rows.map((r) => r.nums) },
  ];
  return Buffer.from(parquetWriteBuffer({ columnData }));
}

const train = countdownParquet([
  { target: 98n, nums: [44, 19, 35] },
  { target: 9007199254740993n, nums: [1, 2, 3, 4] },
]);
const test = countdownParquet([{ target: 24n, nums: [3, 8] }]);
const mathTrain = Buffer.from('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": "4"}\n');

let hub: FakeHub;
beforeAll(async () => {
  hub = await FakeHub.start([
    {
      type: "dataset",
      id: "org/countdown",
      commits: {
        [MAIN]: {
          "README.md": Buffer.from("---\nlicense: apache-2.0\n---\n"),
          "data/train-00000-of-00001.parquet": train,
          "data/test-00000-of-00001.parquet": test,
        },
      },
      refs: { main: MAIN },
    },
    {
      type: "dataset",
      id: "org/math",
      commits: { [MAIN]: { "train.jsonl": mathTrain }, [V1]: { "train.jsonl": Buffer.from('{"problem": "v1"}\n') } },
      refs: { main: MAIN, v1: V1 },
    },
  ]);
});
afterAll(() => hub.close());
afterEach(() => {
  restoreEnv();
  hub.requests.length = 0;
});

const quiet = { progress: false } as const;

describe("split selection", () => {
  const pick = (paths: string[], options: { split?: string; pattern?: string }) => dataFiles(options).select(paths);

  it("finds a split by the datasets library's naming conventions", () => {
    const paths = [
      "README.md",
      "data/train-00000-of-00002.parquet",
      "data/train-00001-of-00002.parquet",
      "data/validation-00000-of-00001.parquet",
      "test_2000.jsonl",
      "eval/part.json",
    ];
    expect(pick(paths, {})).toEqual(["data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"]);
    expect(pick(paths, { split: "test" })).toEqual(["eval/part.json", "test_2000.jsonl"]);
    expect(pick(paths, { split: "validation" })).toEqual(["data/validation-00000-of-00001.parquet"]);
    // No split named anywhere: every data file is train.
    expect(pick(["a.jsonl", "b.parquet", "c.txt"], { split: "train" })).toEqual(["a.jsonl", "b.parquet"]);
    // "constraint" contains "train" but not as a word.
    expect(() => pick(["constraints.jsonl", "test.jsonl"], { split: "train" })).toThrow(/split "train"/);
  });

  it("takes a path, a folder or a glob instead of the split", () => {
    const paths = ["default/train/0000.parquet", "default/train/0001.parquet", "other/train.jsonl"];
    expect(pick(paths, { pattern: "default/train" })).toHaveLength(2);
    expect(pick(paths, { pattern: "**/*.jsonl" })).toEqual(["other/train.jsonl"]);
    expect(pick(paths, { pattern: "other/train.jsonl", split: "test" })).toEqual(["other/train.jsonl"]);
    expect(() => pick(paths, { pattern: "nope/*.parquet" })).toThrow(/matching "nope\/\*\.parquet" \(its data files: /);
  });
});

describe("resolveDataset", () => {
  it("downloads only the split's files into datasets--org--name and reads Parquet rows", async () => {
    const cache = hubEnv(hub.endpoint);
    const files = await resolveDataset("hf://datasets/org/countdown", { ...quiet, split: "train" });
    const snapshot = join(cache, "datasets--org--countdown", "snapshots", MAIN);
    expect(files).toEqual([join(snapshot, "data", "train-00000-of-00001.parquet")]);
    expect(readlinkSync(files[0]!)).toBe(`../../../blobs/${sha256(train)}`);
    expect(hub.log("hub", "HEAD").map((r) => r.url)).toEqual([
      `/datasets/org/countdown/resolve/${MAIN}/data/train-00000-of-00001.parquet`,
    ]);
    expect(await readRecords(files[0]!)).toEqual([
      { target: 98, nums: [44, 19, 35] },
      { target: "9007199254740993", nums: [1, 2, 3, 4] },
    ]);
    const [testFile] = await resolveDataset("hf://datasets/org/countdown/data/test-*.parquet", quiet);
    expect(await readRecords(testFile!)).toEqual([{ target: 24, nums: [3, 8] }]);
  });

  it("takes a revision from the address or the options, and works offline from the cache", async () => {
    const cache = hubEnv(hub.endpoint);
    const [v1] = await resolveDataset("hf://datasets/org/math@v1", quiet);
    expect(await readRecords(v1!)).toEqual([{ problem: "v1" }]);
    expect(await resolveDataset("hf://datasets/org/math", { ...quiet, revision: "v1", offline: true })).toEqual([v1]);
    const [main] = await resolveDataset("hf://datasets/org/math", quiet);
    expect(await readRecords(main!)).toHaveLength(2);
    const missing = await rejection(resolveDataset("hf://datasets/org/other", { offline: true, split: "test" }));
    expect(missing.kind).toBe("not_cached");
    expect(missing.message).toContain("dataset org/other@main");
    expect(missing.message).toContain(join(cache, "datasets--org--other"));
  });

  it("fails in one line on a split the repository lacks, on a bad address and on 404", async () => {
    hubEnv(hub.endpoint);
    const split = await rejection(resolveDataset("hf://datasets/org/math", { ...quiet, split: "test" }));
    expect(split.message).toMatch(
      /^dataset org\/math@main has no JSONL or Parquet file of split "test" \(its data files: train\.jsonl\)$/,
    );
    const address = await rejection(resolveDataset("hf://datasets/-org/x", quiet));
    expect(address.kind).toBe("bad_id");
    const absent = await rejection(resolveDataset("hf://datasets/org/absent", quiet));
    expect(absent.kind).toBe("unauthorized");
    expect(absent.message).toMatch(/dataset org\/absent@main: 401 .*no such repository/);
  });

  it("accepts local files and folders", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lgpo-data-"));
    try {
      mkdirSync(join(dir, "data"));
      writeFileSync(join(dir, "data", "train.jsonl"), mathTrain);
      writeFileSync(join(dir, "data", "test.jsonl"), mathTrain);
      expect(await resolveDataset(dir, { split: "test" })).toEqual([join(dir, "data", "test.jsonl")]);
      expect(await resolveDataset(join(dir, "data", "train.jsonl"))).toEqual([join(dir, "data", "train.jsonl")]);
      await expect(resolveDataset(join(dir, "nope.jsonl"))).rejects.toThrow(/no such file or folder/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("readRecords", () => {
  it("reads JSON arrays and JSON Lines, naming the line of bad JSON", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lgpo-records-"));
    try {
      writeFileSync(join(dir, "a.json"), '[{"x": 1}, {"x": 2}]');
      writeFileSync(join(dir, "b.json"), '{"x": 1}\n{"x": 2}\n');
      writeFileSync(join(dir, "c.jsonl"), '{"x": 1}\n{oops\n');
      writeFileSync(join(dir, "d.parquet"), "not parquet");
      expect(await readRecords(join(dir, "a.json"))).toEqual([{ x: 1 }, { x: 2 }]);
      expect(await readRecords(join(dir, "b.json"))).toEqual([{ x: 1 }, { x: 2 }]);
      await expect(readRecords(join(dir, "c.jsonl"))).rejects.toThrow(/c\.jsonl:2: not valid JSON/);
      await expect(readRecords(join(dir, "d.parquet"))).rejects.toThrow(/d\.parquet: not a readable Parquet file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
