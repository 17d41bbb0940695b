/** The benchmark shapes and timing helpers. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { BENCH_SHAPES, benchPrompts, spread } from "../../../ts/src/bench/index.js";
import { dataFile } from "../data_files.js";

const qwen05 = dataFile("qwen2.5/configs/Qwen2.5-0.5B-Instruct.config.json");

describe("benchmark shapes", () => {
  it.skipIf(qwen05.skip)("half is the Qwen2.5-0.5B architecture with 2 layers", () => {
    const config = JSON.parse(readFileSync(qwen05.path, "utf8")) as Record<string, unknown>;
    for (const [key, value] of Object.entries(BENCH_SHAPES.half)) {
      if (key === "num_hidden_layers") expect(value).toBe(2);
      else expect(value, key).toEqual(config[key]);
    }
  });

  it("draws the same ordinary-token prompts for the same seed", () => {
    const a = benchPrompts(3, 5, 1);
    expect(a).toEqual(benchPrompts(3, 5, 1));
    expect(a).not.toEqual(benchPrompts(3, 5, 2));
    expect(a.flat().every((id) => Number.isInteger(id) && id >= 0 && id < 151643)).toBe(true);
  });

  it("gives the median and range", () => {
    expect(spread([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3 });
    expect(spread([4, 1, 2, 3])).toEqual({ median: 2.5, min: 1, max: 4 });
    expect(() => spread([])).toThrow();
  });
});
