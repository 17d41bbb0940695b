/** Parsing of model ids and hf://datasets/ addresses. */
import { describe, expect, it } from "vitest";

import { parseDatasetAddress, parseModelId } from "../../../ts/src/hub/repo_id.js";

describe("parseModelId", () => {
  it("reads org/name with an optional @revision, main by default", () => {
    expect(parseModelId("Qwen/Qwen2.5-Math-1.5B")).toEqual({
      type: "model",
      id: "Qwen/Qwen2.5-Math-1.5B",
      revision: "main",
    });
    expect(parseModelId("org/m@v1.0").revision).toBe("v1.0");
    expect(parseModelId("org/m@refs/pr/3").revision).toBe("refs/pr/3");
    expect(parseModelId("org/m", "dev").revision).toBe("dev");
    expect(parseModelId("gpt2").id).toBe("gpt2");
  });

  it("rejects malformed ids and conflicting revisions, naming the text", () => {
    for (const bad of [
      "org/a/b",
      "./models/x",
      "org/-x",
      "org--x/y",
      "org/x.git",
      "org/x@",
      "org/x@a b",
      "org/x@a..b",
    ]) {
      expect(() => parseModelId(bad), bad).toThrow(bad);
    }
    expect(() => parseModelId("org/x@v1", "v2")).toThrow(/disagrees/);
  });
});

describe("parseDatasetAddress", () => {
  it("reads the id, the revision and a path or glob", () => {
    expect(parseDatasetAddress("hf://datasets/Jiayi-Pan/Countdown-Tasks-3to4")).toEqual({
      type: "dataset",
      id: "Jiayi-Pan/Countdown-Tasks-3to4",
      revision: "main",
    });
    expect(parseDatasetAddress("hf://datasets/org/d@v2/data/train-*.parquet")).toMatchObject({
      revision: "v2",
      pathPattern: "data/train-*.parquet",
    });
    expect(parseDatasetAddress("hf://datasets/org/d@refs%2Fconvert%2Fparquet/default").revision).toBe(
      "refs/convert/parquet",
    );
    expect(parseDatasetAddress("hf://datasets/org/d@refs/pr/7/x.jsonl")).toMatchObject({
      revision: "refs/pr/7",
      pathPattern: "x.jsonl",
    });
  });

  it("rejects other schemes and malformed ids", () => {
    expect(() => parseDatasetAddress("hf://models/org/m")).toThrow(/not a dataset address/);
    expect(() => parseDatasetAddress("hf://datasets/org--x/d")).toThrow(/org\/name/);
    expect(() => parseDatasetAddress("hf://datasets/org/d@%zz")).toThrow(/URL encoding/);
  });
});
