/** Training and benchmark data: files, formats, field mapping, named datasets, bad lines, the prompt stream. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parquetWriteFile } from "hyparquet-writer";
import { afterAll, describe, expect, it } from "vitest";

import { heldOutCountdownTasks, loadDatasetTasks } from "../../../ts/src/data/load.js";
import { countdownKey, GeneratorSource, ListSource, PromptStream } from "../../../ts/src/data/prompt_stream.js";
import { readRecords } from "../../../ts/src/data/records.js";
import { NAMED_DATASETS, resolveDatasetFiles } from "../../../ts/src/data/sources.js";
import type { CountdownTask } from "../../../ts/src/data/tasks.js";
import { scoreCountdown } from "../../../ts/src/rewards/countdown.js";
import { solveCountdown } from "../../../ts/src/data/countdown_solver.js";
import { dataFile } from "../data_files.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-data-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function jsonl(name: string, lines: unknown[]): string {
  const path = join(tmp, name);
  writeFileSync(path, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return path;
}

const ranges = { min_nums: 3, max_nums: 4, max_number: 99, min_target: 10, max_target: 99 };

describe("dataset files", () => {
  it("reads Countdown JSONL (raw and TinyZero layouts) and Parquet alike", async () => {
    const raw = jsonl("cd.jsonl", [
      { target: 24, nums: [2, 3, 4] },
      { reward_model: { ground_truth: { target: 10, numbers: [5, 5] } } },
    ]);
    const { tasks } = await loadDatasetTasks(raw, "countdown");
    expect(tasks).toEqual([
      { kind: "countdown", target: 24, nums: [2, 3, 4] },
      { kind: "countdown", target: 10, nums: [5, 5] },
    ]);
    const pq = join(tmp, "cd.parquet");
    parquetWriteFile({
      filename: pq,
      columnData: [
        { name: "target", data: [24, 7], type: "INT32" },
        { name: "problem", data: ["a", "b"], type: "STRING" },
      ],
    });
    expect(await readRecords(pq)).toEqual([
      { target: 24, problem: "a" },
      { target: 7, problem: "b" },
    ]);
  });

  it("maps math fields: problem/question and answer/golden_answer/final_answer/expected_answer, or configured names", async () => {
    const f = jsonl("math.jsonl", [
      { question: "1+1?", golden_answer: "2" },
      { problem: "x?", final_answer: ["$3$", "$4$"] },
      { problem: "y?", expected_answer: "5" },
    ]);
    const { tasks } = await loadDatasetTasks(f, "math");
    expect(tasks).toEqual([
      { kind: "math", problem: "1+1?", answer: "2" },
      { kind: "math", problem: "x?", answer: "$3$, $4$" },
      { kind: "math", problem: "y?", answer: "5" },
    ]);
    const g = jsonl("custom.jsonl", [{ q: "z?", a: "7" }]);
    expect((await loadDatasetTasks(g, "math", { fields: { problem: "q", answer: "a" } })).tasks).toEqual([
      { kind: "math", problem: "z?", answer: "7" },
    ]);
  });

  it("names the file and line of a bad record, or skips and counts them when configured", async () => {
    const f = jsonl("bad.jsonl", [
      { target: 1, nums: [1] },
      "{not json",
      { target: "x", nums: [1] },
      { target: 3, nums: [3] },
    ]);
    await expect(loadDatasetTasks(f, "countdown")).rejects.toThrow(/bad\.jsonl:2: not valid JSON/);
    const skipped = await loadDatasetTasks(f, "countdown", { badLines: "skip" });
    expect(skipped.tasks).toHaveLength(2);
    expect(skipped.skipped).toBe(2);
    expect(skipped.firstProblem).toMatch(/bad\.jsonl:2/);
    const g = jsonl("field.jsonl", [{ target: 1, nums: [1] }, { target: 2 }]);
    await expect(loadDatasetTasks(g, "countdown")).rejects.toThrow(/field\.jsonl:2: field "nums"/);
    await expect(loadDatasetTasks(jsonl("empty.jsonl", [""]), "countdown")).rejects.toThrow(/empty\.jsonl: no records/);
    await expect(loadDatasetTasks(join(tmp, "nope.jsonl"), "countdown")).rejects.toThrow(/nope\.jsonl.*no such file/);
    writeFileSync(join(tmp, "x.csv"), "a,b\n");
    await expect(loadDatasetTasks(join(tmp, "x.csv"), "countdown")).rejects.toThrow(/unsupported format \.csv/);
  });

  it("resolves named datasets under $LGPO_DATA_DIR and says where it looked", async () => {
    await expect(resolveDatasetFiles("math500", { dataDir: tmp })).rejects.toThrow(
      new RegExp(`math500.*not found: looked for ${join(tmp, "math500/test.jsonl")}`),
    );
    const saved = process.env.LGPO_DATA_DIR;
    delete process.env.LGPO_DATA_DIR;
    try {
      await expect(resolveDatasetFiles("aime24")).rejects.toThrow(/set LGPO_DATA_DIR/);
    } finally {
      if (saved !== undefined) process.env.LGPO_DATA_DIR = saved;
    }
    await expect(resolveDatasetFiles("no_such_thing")).rejects.toThrow(/not a named dataset/);
  });

  const math500 = dataFile(NAMED_DATASETS.math500!);
  it.skipIf(math500.skip)("loads every named dataset of the shared data", async () => {
    const sizes: Record<string, number> = {};
    for (const name of Object.keys(NAMED_DATASETS)) {
      const task = name.startsWith("countdown") ? "countdown" : "math";
      const { tasks, skipped } = await loadDatasetTasks(name, task, { badLines: "skip" });
      sizes[name] = tasks.length;
      expect(skipped, name).toBe(name === "math_train" ? 2 : 0);
    }
    expect(sizes).toEqual({
      math500: 500,
      aime24: 30,
      aime25: 30,
      olympiadbench: 675,
      math_train: 11998,
      countdown_train: 8000,
      countdown_test: 2000,
    });
    // Two MATH solutions end in an empty \boxed{}: their answer is "", which stops a strict load.
    await expect(loadDatasetTasks("math_train", "math")).rejects.toThrow(/train_12k\.jsonl:5530: field "answer"/);
  });
});

describe("prompt stream", () => {
  it("shuffles per epoch with the seed, covers every task once per epoch, and resumes from a cursor", () => {
    const tasks = Array.from({ length: 10 }, (_, i): CountdownTask => ({ kind: "countdown", target: i, nums: [i] }));
    const a = new PromptStream(new ListSource(tasks, 3, true));
    const first = a.take(7);
    const cursor = a.position();
    expect(cursor).toEqual({ epoch: 0, index: 7 });
    const rest = a.take(8);
    expect(new Set([...first, ...rest.slice(0, 3)].map((t) => (t as CountdownTask).target)).size).toBe(10);
    expect(a.epochs()).toBe(1.5);
    const b = new PromptStream(new ListSource(tasks, 3, true), cursor);
    expect(b.take(8)).toEqual(rest);
    const other = new PromptStream(new ListSource(tasks, 4, true)).take(10);
    expect(other).not.toEqual([...first, ...rest.slice(0, 3)]);
    expect(new PromptStream(new ListSource(tasks, 3, false)).take(3).map((t) => (t as CountdownTask).target)).toEqual([
      0, 1, 2,
    ]);
  });

  it("generates solvable Countdown tasks addressable by position, avoiding held-out ones", () => {
    const source = new GeneratorSource(100, 5, ranges);
    const t = source.task(2, 17) as CountdownTask;
    expect(source.task(2, 17)).toEqual(t);
    expect(source.task(2, 18)).not.toEqual(t);
    expect(t.nums.length).toBeGreaterThanOrEqual(3);
    const solution = solveCountdown(t.nums, t.target)!;
    expect(scoreCountdown(`<answer>${solution}</answer>`, t).score).toBe(1);
    const excluding = new GeneratorSource(100, 5, ranges, new Set([countdownKey(t)]));
    expect(excluding.task(2, 17)).not.toEqual(t);
    const held = heldOutCountdownTasks("countdown", 5, ranges);
    expect(heldOutCountdownTasks("countdown", 5, ranges)).toEqual(held);
    expect(heldOutCountdownTasks("other", 5, ranges)).not.toEqual(held);
  });
});
