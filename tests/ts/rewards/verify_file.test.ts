import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { verifyFile, formatVerifySummary, VerifyInputError } from "../../../ts/src/rewards/verify_file.js";

const dir = mkdtempSync(join(tmpdir(), "lgpo-verify-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, lines: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  return path;
}

async function run(task: "countdown" | "math", path: string) {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on("data", (c: Buffer) => chunks.push(c.toString()));
  const summary = await verifyFile(task, path, out, { batchSize: 2, math: { size: 1 } });
  out.end();
  const lines = chunks
    .join("")
    .trim()
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { summary, lines };
}

describe("verifyFile", () => {
  it("verifies countdown lines: one verdict per line and a summary", async () => {
    const path = file("cd.jsonl", [
      { response: "<answer>(3 + 2 + 1) * 4</answer>", target: 24, nums: [3, 4, 2, 1] },
      { response: "<answer>3 + 4 + 2 + 1</answer>", target: 24, nums: [3, 4, 2, 1] },
      "",
      { response: "nothing", target: 24, nums: [3, 4, 2, 1], extra: "ignored" },
    ]);
    const { summary, lines } = await run("countdown", path);
    expect(lines).toEqual([
      { line: 1, score: 1, verdict: "correct", status: "ok", answer: "(3 + 2 + 1) * 4" },
      { line: 2, score: 0.1, verdict: "wrong_value", status: "ok", answer: "3 + 4 + 2 + 1" },
      { line: 4, score: 0, verdict: "no_answer", status: "ok" },
    ]);
    expect(summary).toMatchObject({ task: "countdown", total: 3, correct: 1, errors: 0 });
    expect(summary.accuracy).toBeCloseTo(1 / 3);
    expect(formatVerifySummary(summary)).toMatch(/^countdown: 1\/3 correct \(33\.3%\)/);
  });

  it("verifies math lines", async () => {
    const path = file("math.jsonl", [
      { response: "so \\boxed{\\frac{1}{2}}", answer: "0.5" },
      { response: "so \\boxed{3}", answer: "4" },
      { response: "\\boxed{(1,2), (3,4)}", answer: ["$(3,4)$", "$(1,2)$"] },
    ]);
    const { summary, lines } = await run("math", path);
    expect(lines.map((l) => [l.line, l.verdict, l.score])).toEqual([
      [1, "correct", 1],
      [2, "wrong", 0],
      [3, "correct", 1],
    ]);
    expect(summary).toMatchObject({ task: "math", total: 3, correct: 2, verdicts: { correct: 2, wrong: 1 } });
  });

  it("names the line and the field of a bad line, after writing the lines before it", async () => {
    const cases: Array<["countdown" | "math", unknown[], RegExp, string | undefined]> = [
      [
        "countdown",
        [{ response: "<answer>1</answer>", target: 1, nums: [1] }, "{not json"],
        /^line 2: invalid JSON/,
        undefined,
      ],
      [
        "countdown",
        [{ response: 5, target: 1, nums: [1] }],
        /^line 1: field "response" must be a string, got 5/,
        "response",
      ],
      ["countdown", [{ response: "", target: 1.5, nums: [1] }], /^line 1: field "target" must be an integer/, "target"],
      ["countdown", [{ response: "", target: 1 }], /^line 1: field "nums" must be a non-empty array/, "nums"],
      [
        "math",
        [{ response: "x" }],
        /^line 1: field "answer" must be a string or a list of strings, got nothing \(missing\)/,
        "answer",
      ],
      ["math", [[1, 2]], /^line 1: expected a JSON object/, undefined],
    ];
    for (const [task, lines, message, field] of cases) {
      const path = file(`bad-${task}.jsonl`, lines);
      const out = new PassThrough();
      const written: string[] = [];
      out.on("data", (c: Buffer) => written.push(c.toString()));
      const err = await verifyFile(task, path, out, { math: { size: 1 } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VerifyInputError);
      expect((err as VerifyInputError).message).toMatch(message);
      expect((err as VerifyInputError).field).toBe(field);
      if (lines.length > 1) expect(written.join("")).toMatch(/"line":1/);
    }
  });

  it("rejects an unknown task", async () => {
    await expect(verifyFile("algebra" as "math", "x", new PassThrough())).rejects.toThrow(
      /valid tasks: countdown, math/,
    );
  });
});
