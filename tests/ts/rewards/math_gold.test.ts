/**
 * Gold sanity on real benchmark answers, through the worker pool (the path training uses):
 * - MATH500: every reference `answer` is equivalent to the last \boxed{} of its own `solution`;
 *   and no answer is equivalent to the next problem's (different) answer, except listed true matches.
 * - OlympiadBench: every `final_answer` list (several values, units) reads as an answer that is
 *   equivalent to itself; and, as a false-positive probe, not to the next problem's answer.
 *   (No OlympiadBench solution in this file contains a \boxed{}, which is reported.)
 * Timings are printed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { MathVerifierPool } from "../../../ts/src/rewards/math/math_pool.js";
import { lastBoxed } from "../../../ts/src/rewards/math/extract.js";
import { goldAnswerOf } from "../../../ts/src/rewards/builtin.js";
import { dataFile, readJsonl } from "../data_files.js";

const math500 = dataFile("math500/test.jsonl");
const olympiad = dataFile("olympiadbench/test.jsonl");
const compact = (s: string) => s.replace(/\s+/g, "");

describe.skipIf(math500.skip)("MATH500 gold answers", () => {
  const pool = new MathVerifierPool({ timeoutMs: 10_000 });
  afterAll(() => pool.close());

  it("each reference answer is equivalent to the last \\boxed{} of its solution", async () => {
    const rows = readJsonl<{ answer: string; solution: string; unique_id: string }>(math500.path);
    expect(rows.length).toBe(500);
    await pool.verify("1", "\\boxed{1}"); // start a worker outside the timing
    const t0 = Date.now();
    const results = await Promise.all(rows.map((r) => pool.verify(r.answer, r.solution)));
    const ms = Date.now() - t0;
    const failed = results.map((r, i) => [r, rows[i]!] as const).filter(([r]) => r.verdict !== "correct");
    console.log(
      `MATH500 gold vs boxed solution: ${500 - failed.length}/500 equivalent, ${ms} ms for 500 checks (${(ms / 500).toFixed(1)} ms each)` +
        failed
          .map(
            ([r, row]) => `\n  ${row.unique_id}: ${row.answer} vs ${lastBoxed(row.solution)?.content} -> ${r.verdict}`,
          )
          .join(""),
    );
    expect(failed).toEqual([]);
  });

  it("no answer matches the next problem's different answer (false-positive probe)", async () => {
    const rows = readJsonl<{ answer: string }>(math500.path);
    const pairs = rows
      .map((r, i) => [r.answer, rows[(i + 1) % rows.length]!.answer] as const)
      .filter(([a, b]) => compact(a) !== compact(b));
    const results = await Promise.all(pairs.map(([a, b]) => pool.equivalent(a, b)));
    const matches = pairs.filter((_, i) => results[i]!.verdict === "correct").map(([a, b]) => `${a} ~ ${b}`);
    // "x=5" is the answer 5 written as an assignment: a true match.
    expect(matches).toEqual(["5 ~ x=5"]);
  });
});

describe.skipIf(olympiad.skip)("OlympiadBench final answers", () => {
  const pool = new MathVerifierPool({ timeoutMs: 10_000 });
  afterAll(() => pool.close());

  it("each final_answer list reads as an answer equivalent to itself", async () => {
    const rows = readJsonl<{ id: number; final_answer: string[]; solution: string[]; is_multiple_answer: boolean }>(
      olympiad.path,
    );
    expect(rows.length).toBe(675);
    const golds = rows.map((r) => goldAnswerOf(r.final_answer)!);
    const t0 = Date.now();
    const results = await Promise.all(golds.map((g) => pool.equivalent(g, g)));
    const ms = Date.now() - t0;
    const failed = golds.filter((_, i) => results[i]!.verdict !== "correct");
    const boxedSolutions = rows.filter((r) => r.solution.some((s) => s.includes("\\boxed"))).length;
    const multiple = rows.filter((r) => r.is_multiple_answer).length;
    console.log(
      `OlympiadBench: ${675 - failed.length}/675 final answers equivalent to themselves (${multiple} with several values), ${ms} ms; ` +
        `${boxedSolutions} solutions contain a \\boxed{} to compare with` +
        failed.map((g) => `\n  unreadable: ${g}`).join(""),
    );
    // "$t(0,4]$" is malformed in the source data.
    expect(failed).toEqual(["$t(0,4]$"]);
  });

  it("no final answer matches the next problem's different answer (false-positive probe)", async () => {
    const rows = readJsonl<{ final_answer: string[] }>(olympiad.path);
    const golds = rows.map((r) => goldAnswerOf(r.final_answer)!);
    const pairs = golds
      .map((g, i) => [g, golds[(i + 1) % golds.length]!] as const)
      .filter(([a, b]) => compact(a) !== compact(b));
    const results = await Promise.all(pairs.map(([a, b]) => pool.equivalent(a, b)));
    expect(pairs.filter((_, i) => results[i]!.verdict === "correct")).toEqual([]);
  });
});

describe("OlympiadBench-style answers (no data needed)", () => {
  const pool = new MathVerifierPool({ size: 1, timeoutMs: 10_000 });
  afterAll(() => pool.close());

  it("handles several answers and units: lists are unordered, a missing value is wrong", async () => {
    expect((await pool.equivalent("$(1,1), (3,2)$", "(3,2), (1,1)")).verdict).toBe("correct");
    expect((await pool.equivalent("$(1,1), (3,2)$", "(1,1)")).verdict).toBe("wrong");
    expect((await pool.equivalent("$90^{\\circ}$,$60^{\\circ}$", "60, 90")).verdict).toBe("correct");
    expect((await pool.equivalent("$\\frac{9}{32} \\sqrt{2}$", "\\frac{9\\sqrt{2}}{32}")).verdict).toBe("correct");
    expect((await pool.equivalent("45", "45 \\text{ minutes}")).verdict).toBe("correct");
  });
});
