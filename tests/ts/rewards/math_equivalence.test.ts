import { describe, expect, it } from "vitest";
import { checkEquivalent, verifyMath, type MathVerifyOptions } from "../../../ts/src/rewards/math/verify.js";
import { extractCandidates, lastBoxed } from "../../../ts/src/rewards/math/extract.js";
import { normalizeAnswer } from "../../../ts/src/rewards/math/normalize.js";
import { parseAnswer } from "../../../ts/src/rewards/math/structure.js";

const eq = (gold: string, pred: string, o: MathVerifyOptions = {}) =>
  checkEquivalent(gold, pred, o).verdict === "correct";

describe("extraction", () => {
  it("takes the last \\boxed{} with nested braces, and \\fbox", () => {
    expect(lastBoxed("a \\boxed{1} b \\boxed{\\frac{1}{\\sqrt{2}}} c")?.content).toBe("\\frac{1}{\\sqrt{2}}");
    expect(lastBoxed("\\fbox{7}.")?.content).toBe("7");
    expect(lastBoxed("\\boxed {x^{2}}")?.content).toBe("x^{2}");
    expect(lastBoxed("no box")).toBeUndefined();
  });

  it("joins adjacent boxes into a list", () => {
    expect(lastBoxed("so \\boxed{-2} and \\boxed{1}.")?.content).toBe("-2, 1");
    expect(lastBoxed("$\\boxed{1}\\boxed{2}$")?.content).toBe("1, 2");
    expect(lastBoxed("\\boxed{3} long text in between that is not a separator \\boxed{4}")?.content).toBe("4");
  });

  it("handles 10,000 nested braces and unclosed boxes without recursion", () => {
    const deep = "\\boxed{" + "{".repeat(10_000) + "1" + "}".repeat(10_000) + "}";
    expect(lastBoxed(deep)?.content.length).toBe(20_001);
    expect(lastBoxed("\\boxed{1 + {2")?.content).toBe("1 + {2");
  });

  it("falls back to 'final answer is', the last math and plain numbers only when configured", () => {
    const text = "We get $x = 3$. Final Answer: The final answer is $5$. I hope it is correct.";
    expect(extractCandidates(text).length).toBe(0);
    expect(extractCandidates(text, { finalAnswer: true })[0]?.text).toBe("5");
    expect(extractCandidates("so $x = 3$ and then $7$", { lastMath: true })[0]?.text).toBe("7");
    expect(extractCandidates("the total is 1,234 apples", { plainNumbers: true })[0]?.text).toBe("1,234");
    expect(extractCandidates("AZYUK2A", { plainNumbers: true }).length).toBe(0);
  });

  it("lets a later 'final answer is ... I hope' win over an earlier box", () => {
    const text = "\\boxed{255} then ... Final Answer: The final answer is $10,455$. I hope it is correct.";
    expect(verifyMath("10455", text, { extract: { finalAnswer: true } }).verdict).toBe("correct");
    expect(verifyMath("10455", text).verdict).toBe("wrong"); // boxed only
  });
});

describe("normalisation", () => {
  const cases: Array<[string, string]> = [
    ["\\left( \\frac{1}{3} \\right)", "( \\frac{1}{3} )"],
    ["\\dfrac{1}{2}", "\\frac{1}{2}"],
    ["\\tfrac12", "\\frac{1}{2}"],
    ["15\\text{ cm}^2", "15"],
    ["\\frac{1}{3} \\textbf{meters}", "\\frac{1}{3}"],
    ["90^\\circ", "90"],
    ["90^{\\circ}", "90"],
    ["28\\%", "28"],
    ["\\$1,000.99", "1000.99"],
    ["14{,}916", "14916"],
    ["11,\\! 111,\\! 100", "11111100"],
    ["\\text{(C)}", "C"],
    ["(C)", "C"],
    ["x \\geq 5", "x \\ge 5"],
    ["12\\text{ and }13", "12, 13"],
    ["\\\\frac{1}{2}", "\\frac{1}{2}"],
    [".5", "0.5"],
    ["2\\frac{1}{2}", "(2+\\frac{1}{2})"],
  ];
  for (const [raw, want] of cases) {
    it(`${JSON.stringify(raw)} -> ${JSON.stringify(want)}`, () => {
      expect(normalizeAnswer(raw).latex).toBe(want);
    });
  }

  it("keeps a matrix row break and a pair with a comma", () => {
    expect(normalizeAnswer("\\begin{pmatrix} 1 \\\\ x \\end{pmatrix}").latex).toBe(
      "\\begin{pmatrix} 1 \\\\ x \\end{pmatrix}",
    );
    expect(parseAnswer(normalizeAnswer("(2,500)").latex)?.k).toBe("tuple");
  });
});

describe("structure", () => {
  it("recognises intervals, tuples, sets, unions, matrices and relations", () => {
    expect(parseAnswer("[0,1)")).toMatchObject({ k: "interval", loOpen: false, hiOpen: true });
    expect(parseAnswer("(1,2)")).toMatchObject({ k: "tuple", open: "(" });
    expect(parseAnswer("(1,2,3)")?.k).toBe("tuple");
    expect(parseAnswer("\\{1,2\\}")?.k).toBe("set");
    expect(parseAnswer("1, 2")?.k).toBe("list");
    expect(parseAnswer("(-\\infty, 0) \\cup (1, \\infty)")?.k).toBe("union");
    expect(parseAnswer("\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}")).toMatchObject({ k: "matrix" });
    expect(parseAnswer("-2 \\le x \\le 7")).toMatchObject({ k: "rel", ops: ["\\le", "\\le"] });
    expect(parseAnswer("(a+5)(b+2)")?.k).toBe("expr");
  });
});

describe("equivalence", () => {
  const positive: Array<[string, string, MathVerifyOptions?]> = [
    // integers (exact), decimals, fractions
    ["12345678901234567890123", "12345678901234567890123"],
    ["1000", "1000.0"],
    ["0.5", "\\frac{1}{2}"],
    ["\\frac{1}{3}", "0.3333333"],
    ["\\frac{10}{9}", "10/9"],
    ["-\\frac{10}{9}", "\\frac{-10}{9}"],
    ["\\frac{14}{3}", "4\\frac{2}{3}"],
    // radicals, pi, logs
    ["2\\sqrt{3}", "\\sqrt{12}"],
    ["\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}"],
    ["\\frac{9}{4}\\pi", "\\frac94\\pi"],
    ["3", "\\log_2 8"],
    ["e^{i\\pi}", "-1"],
    ["2^{10}", "1024"],
    // expressions with free variables compare as functions
    ["x^2+2x+1", "(x+1)^2"],
    ["\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"],
    ["\\tan^2(y)+1", "\\sec^2(y)"],
    ["2 \\sin b \\cos a", "\\sin(a+b) - \\sin(a-b)"],
    ["a_1 + a_2", "a_2 + a_1"],
    ["\\frac{N}{2}", "0.5N"],
    // intervals, tuples, sets, unions, matrices
    ["[0, 1)", "[0,1)"],
    ["(-\\infty, 2]", "(-\\infty,2]"],
    ["(3, \\frac{\\pi}{2})", "\\left( 3, \\frac{\\pi}{2} \\right)"],
    ["\\{1, 2, 3\\}", "\\{3, 1, 2\\}"],
    ["1, -2", "-2, 1"],
    ["1 \\pm \\sqrt{19}", "1+\\sqrt{19}, 1-\\sqrt{19}"],
    ["(-\\infty, 0) \\cup (1, \\infty)", "(1,\\infty) \\cup (-\\infty,0)"],
    ["\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}"],
    ["\\begin{pmatrix} \\frac{1}{2} \\\\ 1 \\end{pmatrix}", "\\begin{pmatrix} 0.5 \\\\ 1 \\end{pmatrix}"],
    // equations and inequalities
    ["x = 5", "5"],
    ["k = \\frac{1}{3}", "\\frac{1}{3}"],
    ["y = 2x + 1", "y = 1 + 2x"],
    ["2x + 4y - 3 = 0", "y = -\\frac{1}{2}x + \\frac{3}{4}"],
    ["x \\le 5", "5 \\ge x"],
    ["x < 1", "-x > -1"],
    ["-2 \\le x \\le 7", "x \\in [-2, 7]"],
    // text, units, percent, choices
    ["\\text{Evelyn}", "Evelyn"],
    ["C", "\\text{(C)}"],
    ["125", "125\\textnormal{ miles}"],
    ["28\\%", "28"],
    ["20\\%", "0.2"],
    ["1000.99", "\\$1,000.99"],
  ];
  for (const [g, p, o] of positive) {
    it(`${g}  ==  ${p}`, () => expect(eq(g, p, o)).toBe(true));
  }

  const negative: Array<[string, string, MathVerifyOptions?]> = [
    ["12345678901234567890123", "12345678901234567890124"],
    ["100000000000000000000", "10^{20} + 1"],
    ["3", "2.9999999"],
    ["1024", "2^{10} + 10^{-12}"],
    ["\\frac{1}{3}", "0.33"],
    ["\\frac{\\pi}{2}", "1.5707"],
    ["2", "\\frac{1+\\sqrt{5}}{2}"],
    ["4", "4\\sqrt{2}"],
    ["\\sqrt{2}", "1.414"],
    ["x+1", "y+1"],
    ["x+2n+1", "x+1"],
    ["|x|", "x"],
    ["(a+5)(b+2)", "(+5)(b+2)"],
    ["[0, 1)", "[0, 1]"],
    ["(0, 9)", "[0, 9)"],
    ["(1, 2)", "(2, 1)"],
    ["\\{1, 2\\}", "\\{1, 2, 3\\}"],
    ["1", "1, 2"],
    ["(3, 1)", "\\{1, 3\\}"],
    ["\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}"],
    ["x > 5", "x < 5"],
    ["x \\ge 5", "x \\le 5"],
    ["a + 3z = 0", "0"],
    ["x = 1", "y = 1"],
    ["\\text{Evelyn}", "\\text{Briana}"],
    ["C", "D"],
    ["1112112_3", "1112122_3"],
    ["\\frac{\\pi}{2}", "90^\\circ"],
    ["5", ""],
  ];
  for (const [g, p, o] of negative) {
    it(`${g}  !=  ${p}`, () => expect(eq(g, p, o)).toBe(false));
  }

  it("uses a relative tolerance for decimals, configurable, or Math-Verify rounding", () => {
    expect(eq("16386.17", "16386.1700001")).toBe(true);
    expect(eq("0.5", "0.50001")).toBe(false);
    expect(eq("0.5", "0.50001", { relTol: 1e-4 })).toBe(true);
    expect(eq("\\frac{1}{3}", "0.33", { decimalPlaces: 2 })).toBe(true);
  });

  it("compares sets with relations only when allowed", () => {
    expect(eq("x \\in [-2,7]", "-2 \\le x \\le 7")).toBe(false);
    expect(eq("x \\in [-2,7]", "-2 \\le x \\le 7", { allowSetRelation: true })).toBe(true);
  });
});

describe("verifyMath", () => {
  it("returns a verdict for every kind of response", () => {
    expect(verifyMath("\\frac{1}{2}", "so the answer is \\boxed{0.5}.")).toMatchObject({
      verdict: "correct",
      extracted: "0.5",
    });
    expect(verifyMath("\\frac{1}{2}", "so the answer is \\boxed{0.6}.").verdict).toBe("wrong");
    expect(verifyMath("\\frac{1}{2}", "so the answer is one half").verdict).toBe("no_answer");
    expect(verifyMath("", "\\boxed{1}").verdict).toBe("bad_gold");
    expect(verifyMath("1", "\\boxed{" + "x".repeat(5000) + "}").verdict).toBe("wrong");
  });

  it("reads golds with $...$ and \\boxed{}", () => {
    expect(verifyMath("$\\frac{1}{2}$", "\\boxed{\\dfrac{1}{2}}").verdict).toBe("correct");
    expect(verifyMath("The answer is \\boxed{7}.", "\\boxed{7}").verdict).toBe("correct");
  });

  it("answers hostile scalars as wrong without evaluating them", () => {
    expect(verifyMath("1", "\\boxed{10^{10^{10}}}").verdict).toBe("wrong");
    expect(verifyMath("1", "\\boxed{9999999!}").verdict).toBe("wrong");
    expect(verifyMath("1", "\\boxed{2^{123456789}}").verdict).toBe("wrong");
    expect(verifyMath("10^{10^{10}}", "\\boxed{10^{10^{10}}}").verdict).toBe("correct"); // identical strings
  });
});
