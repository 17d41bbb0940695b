import { describe, expect, it } from "vitest";
import {
  COUNTDOWN_DEFAULTS,
  extractCountdownAnswer,
  parseCountdownExpression,
  scoreCountdown,
  type CountdownTask,
} from "../../../ts/src/rewards/countdown.js";
import { solveCountdown } from "../../../ts/src/data/countdown_solver.js";
import { dataFile, readJsonl } from "../data_files.js";

const task: CountdownTask = { target: 24, nums: [3, 4, 2, 1] };
const answer = (s: string) => `Let me think... <answer>${s}</answer>`;

describe("countdown extraction", () => {
  it("takes the last <answer>...</answer>", () => {
    expect(extractCountdownAnswer("<answer>1+2</answer> then <answer> 3*4 </answer>")).toBe("3*4");
    expect(extractCountdownAnswer("no tags")).toBeUndefined();
    expect(extractCountdownAnswer("<answer>unclosed")).toBeUndefined();
    expect(extractCountdownAnswer("<answer>1+2</answer> <answer>unclosed")).toBe("1+2");
  });
});

describe("countdown scoring (TinyZero levels: 1.0 / 0.1 / 0)", () => {
  const cases: Array<[string, string, number, string]> = [
    // [what, answer, score, verdict]
    ["correct", "(3 + 2 + 1) * 4", 1, "correct"],
    ["correct, any order", "4 * (1 + 2 + 3)", 1, "correct"],
    ["correct with x and ÷ and −", "3 × 4 × 2 ÷ 1", 1, "correct"],
    ["trailing = target", "(3 + 2 + 1) * 4 = 24", 1, "correct"],
    ["trailing = wrong claim", "(3 + 2 + 1) * 4 = 25", 0.1, "wrong_value"],
    ["exact fractions", "4 / (1 / 3) * 2", 1, "correct"],
    ["reused number", "3 * 4 * 2 * 1 * 1", 0.1, "wrong_numbers"],
    ["missing number", "3 * 4 * 2", 0.1, "wrong_numbers"],
    ["number not given", "6 * 4 * 1", 0.1, "wrong_numbers"],
    ["digit concatenation", "34 - 2 - 1", 0.1, "wrong_numbers"],
    ["implicit multiplication", "4(3 + 2 + 1)", 0.1, "malformed"],
    ["implicit multiplication of groups", "(3 + 2 + 1)(4)", 0.1, "malformed"],
    ["decimal", "3.0 * 4 * 2 * 1", 0.1, "malformed"],
    ["power **", "2 ** 3 * 3 * 1", 0.1, "malformed"],
    ["floor division //", "4 // 1 * 3 * 2", 0.1, "malformed"],
    ["caret", "2 ^ 3 * 3 * 1", 0.1, "malformed"],
    ["factorial", "4! * 1 * (3 - 2)", 0.1, "malformed"],
    ["division by zero", "4 / (3 - 2 - 1)", 0.1, "wrong_value"],
    ["unary minus", "4 * 3 * 2 * -(-1)", 1, "correct"],
    ["wrong value", "3 + 4 + 2 + 1", 0.1, "wrong_value"],
    ["letters", "three * 8", 0.1, "malformed"],
    ["empty answer", "", 0.1, "malformed"],
    ["leading zero", "03 * 4 * 2 * 1", 0.1, "malformed"],
    ["unbalanced parentheses", "(3 * 4 * 2 * 1", 0.1, "malformed"],
  ];
  for (const [what, text, score, verdict] of cases) {
    it(`${what}: ${JSON.stringify(text)} -> ${score}`, () => {
      const r = scoreCountdown(answer(text), task);
      expect(r.verdict).toBe(verdict);
      expect(r.score).toBe(score);
    });
  }

  it("accepts the Unicode minus", () => {
    expect(scoreCountdown(answer("7 − 2"), { target: 5, nums: [7, 2] }).score).toBe(1);
  });

  it("no answer scores 0", () => {
    expect(scoreCountdown("(3 + 2 + 1) * 4 = 24", task)).toMatchObject({ score: 0, verdict: "no_answer" });
  });

  it("divides exactly, never with float tolerance", () => {
    // 1/3 + 1/3 + 1/3 is exactly 1 (float arithmetic gives 0.9999999999999999)
    expect(scoreCountdown(answer("(1/3 + 1/3 + 1/3)"), { target: 1, nums: [1, 3, 1, 3, 1, 3] }).score).toBe(1);
    // 7/3 is not 2 however close
    expect(scoreCountdown(answer("7 / 3"), { target: 2, nums: [7, 3] }).score).toBe(0.1);
  });

  it("reports the exact value and the reason", () => {
    expect(scoreCountdown(answer("4 / 3 + 2 + 1"), task)).toMatchObject({ value: "13/3", verdict: "wrong_value" });
  });

  it("uses duplicate numbers as a multiset", () => {
    expect(scoreCountdown(answer("5 * 5 - 1"), { target: 24, nums: [5, 1, 5] }).score).toBe(1);
    expect(scoreCountdown(answer("5 * 5 - 1"), { target: 24, nums: [5, 1, 4] }).score).toBe(0.1);
  });

  it("has configurable scores and unary minus", () => {
    expect(COUNTDOWN_DEFAULTS.formatScore).toBe(0.1);
    expect(scoreCountdown(answer("3 + 4 + 2 + 1"), task, { formatScore: 0 }).score).toBe(0);
    expect(scoreCountdown(answer("(3 + 2 + 1) * 4"), task, { correctScore: 2 }).score).toBe(2);
    expect(scoreCountdown("nothing", task, { noAnswerScore: -1 }).score).toBe(-1);
    const neg = answer("4 * 3 * 2 * -(-1)");
    expect(scoreCountdown(neg, task).score).toBe(1);
    expect(scoreCountdown(neg, task, { allowUnaryMinus: false })).toMatchObject({ score: 0.1, verdict: "malformed" });
  });

  it("rejects oversized and deeply nested answers without throwing", () => {
    expect(scoreCountdown(answer("(".repeat(5000) + "1" + ")".repeat(5000)), task)).toMatchObject({
      score: 0.1,
      verdict: "malformed",
    });
    const deep = "(".repeat(200) + "3 * 4 * 2 * 1" + ")".repeat(200);
    expect(scoreCountdown(answer(deep), task)).toMatchObject({ score: 0.1, verdict: "malformed" });
    expect(scoreCountdown(answer("9".repeat(100)), task)).toMatchObject({ score: 0.1, verdict: "malformed" });
  });

  it("parses into numbers and a claimed value", () => {
    const p = parseCountdownExpression("(1 + 2) * 3 = 9");
    expect(p.ok && p.numbers).toEqual([1n, 2n, 3n]);
    expect(p.ok && p.claimed).toBe(9n);
    expect(parseCountdownExpression("1 + = 2").ok).toBe(false);
  });
});

const testSet = dataFile("countdown/test_2000.jsonl");

describe.skipIf(testSet.skip)("countdown on the 2000 test tasks (solver solutions)", () => {
  it("all 2000 tasks are solvable; every solution scores 1.0 and every perturbation 0.1", () => {
    const rows = readJsonl<CountdownTask & { hf_row: number }>(testSet.path);
    expect(rows.length).toBe(2000);
    let solvable = 0;
    const t0 = Date.now();
    for (const row of rows) {
      const sol = solveCountdown(row.nums, row.target);
      if (sol === undefined) continue;
      solvable++;
      expect(scoreCountdown(answer(sol), row), `${sol} for ${JSON.stringify(row)}`).toMatchObject({
        score: 1,
        verdict: "correct",
      });
      const n0 = row.nums[0]!;
      const perturbed = [
        `${sol} + ${n0} - ${n0}`, // reuses a number
        row.nums.slice(1).join(" + "), // misses a number
        `(${sol}) = ${row.target + 1}`, // claims a wrong value
        `(${sol}) * 1.0`, // decimal
        `(${sol})(${n0})`, // implicit multiplication
        sol.replace(/(\d+)\s*[-+*/]\s*(\d+)/, "$1$2"), // digit concatenation
        `(${sol}) ** 1`, // power
      ];
      for (const p of perturbed) {
        expect(scoreCountdown(answer(p), row).score, `${p} for ${JSON.stringify(row)}`).toBe(0.1);
      }
    }
    console.log(
      `countdown: ${solvable}/${rows.length} test tasks solvable; solved, verified and perturbed in ${Date.now() - t0} ms`,
    );
    expect(solvable).toBe(2000);
  });
});
