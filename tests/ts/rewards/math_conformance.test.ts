/**
 * Conformance with Hugging Face Math-Verify's regression cases (tests/test_all.py): 190 (gold, pred,
 * expected) triples. Each Math-Verify test function parses gold and prediction with the same
 * extraction targets, "latex" (boxed, "final answer is", math environments), "expr" (plain numbers
 * and expressions) or both; the table below mirrors that per group, and `precision` /
 * `allow_set_relation_comp` map to `decimalPlaces` / `allowSetRelation`.
 *
 * Requirements: agreement >= 90% and no false positive (expected false, verified true).
 */
import { afterAll, describe, expect, it } from "vitest";
import { MathVerifierPool } from "../../../ts/src/rewards/math/math_pool.js";
import type { MathVerifyOptions } from "../../../ts/src/rewards/math/verify.js";
import { dataFile, readJsonl } from "../data_files.js";

interface Case {
  gold: string;
  pred: string;
  expected: boolean;
  group: string;
  precision?: number;
  allow_set_relation_comp?: boolean;
}

/** Extraction targets of each Math-Verify test function (default: latex + expr). */
const GROUP_TARGETS: Record<string, Array<"latex" | "expr">> = {
  test_number_extraction: ["expr"],
  test_latex_notation: ["latex"],
  test_latex_notation_math: ["latex"],
  test_relations_math: ["latex"],
  test_matrix_extraction: ["latex"],
  test_set_rel_assymetry: ["latex"],
};

function optionsFor(c: Case): MathVerifyOptions {
  const targets = GROUP_TARGETS[c.group] ?? ["latex", "expr"];
  const latex = targets.includes("latex");
  return {
    goldFormat: "text",
    extract: { boxed: latex, finalAnswer: true, lastMath: latex, plainNumbers: targets.includes("expr") },
    decimalPlaces: c.precision ?? 6,
    allowSetRelation: c.allow_set_relation_comp ?? false,
  };
}

const file = dataFile("conformance/math_verify_cases.jsonl");

describe.skipIf(file.skip)("Math-Verify conformance", () => {
  const pool = new MathVerifierPool({ timeoutMs: 10_000 });
  afterAll(() => pool.close());

  it("agrees on >= 90% of the 190 cases with no false positive", async () => {
    const cases = readJsonl<Case>(file.path);
    expect(cases.length).toBe(190);
    await pool.verify("1", "\\boxed{1}"); // start a worker outside the timing
    const t0 = Date.now();
    const results = await Promise.all(cases.map((c) => pool.verify(c.gold, c.pred, optionsFor(c))));
    const ms = Date.now() - t0;

    const groups = new Map<string, { n: number; agree: number; fp: number; fn: number }>();
    const disagreements: string[] = [];
    let agree = 0;
    let fp = 0;
    results.forEach((r, i) => {
      const c = cases[i]!;
      const got = r.verdict === "correct";
      const g = groups.get(c.group) ?? { n: 0, agree: 0, fp: 0, fn: 0 };
      groups.set(c.group, g);
      g.n++;
      if (got === c.expected) {
        g.agree++;
        agree++;
      } else {
        if (got) {
          g.fp++;
          fp++;
        } else g.fn++;
        disagreements.push(
          `  #${i} ${c.group}: expected ${c.expected}, got ${r.verdict} (extracted ${JSON.stringify(r.extracted ?? null)?.slice(0, 80)}, gold ${JSON.stringify(r.gold ?? null)?.slice(0, 60)})`,
        );
      }
    });

    const rows = [...groups.entries()].map(
      ([name, g]) =>
        `  ${name.padEnd(40)} ${String(g.agree).padStart(3)}/${String(g.n).padEnd(3)} false+ ${g.fp}  false- ${g.fn}`,
    );
    console.log(
      [
        `Math-Verify conformance: ${agree}/${cases.length} agree (${((100 * agree) / cases.length).toFixed(1)}%), ${fp} false positives, ${ms} ms through the worker pool`,
        `  ${"group".padEnd(40)} agree     false+ / false-`,
        ...rows,
        ...(disagreements.length ? ["disagreements:", ...disagreements] : []),
      ].join("\n"),
    );
    expect(fp).toBe(0);
    expect(agree / cases.length).toBeGreaterThanOrEqual(0.9);
  });
});
