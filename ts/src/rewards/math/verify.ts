/**
 * The math verifier, synchronous: extract the final answer of a response, read the gold answer,
 * normalise both, parse their structure and decide equivalence (compare.ts). `verifyMath` never
 * throws on any response text; run it through the worker pool (pool.ts) to bound its time and memory.
 */

import { extractCandidates, lastBoxed, stripMathDelimiters, type Candidate, type ExtractOptions } from "./extract.js";
import { normalizeAnswer } from "./normalize.js";
import { parseAnswer, type AnswerNode } from "./structure.js";
import { nodeReadable, nodesEqual } from "./compare.js";
import { type CompareOptions, resolveCompareOptions } from "./scalar.js";

/** Options of the math verifier (all optional). */
export interface MathVerifyOptions extends CompareOptions {
  /** Where the final answer may be found in a response. Default: `\boxed{}` only. */
  extract?: ExtractOptions;
  /**
   * How the gold answer is read. "answer" (default): a reference answer in LaTeX, with or without
   * `$...$` or `\boxed{}` (MATH's `answer`, OlympiadBench's `final_answer`). "text": extracted from
   * prose with the same `extract` options as a response (a gold solution).
   */
  goldFormat?: "answer" | "text";
  /** Longer responses keep only their last this-many characters. Default 100,000. */
  maxResponseChars?: number;
  /** A longer extracted answer is wrong without being parsed. Default 1,000. */
  maxAnswerChars?: number;
}

/** Verdict of one check. "timeout" and "error" come from the pool and score as wrong. */
export type MathVerdict = "correct" | "wrong" | "no_answer" | "bad_gold" | "timeout" | "error";

/** The outcome of one check. */
export interface MathCheck {
  verdict: MathVerdict;
  /** The extracted answer, as found in the response. */
  extracted?: string;
  /** Its normalised form. */
  normalized?: string;
  /** The normalised gold answer. */
  gold?: string;
  /** Why the verdict is not "correct", when there is more to say. */
  reason?: string;
}

/** Defaults of {@link MathVerifyOptions}. */
export const MATH_VERIFY_DEFAULTS = {
  goldFormat: "answer" as const,
  maxResponseChars: 100_000,
  maxAnswerChars: 1_000,
};

/** A normalised, structurally parsed answer. */
export interface ParsedAnswer {
  raw: string;
  latex: string;
  node: AnswerNode;
  percent: boolean;
}

/** Number-only normalisation of a plain-text number: "1,000.5" / "1 000" (thousands), "2,74" (decimal comma). */
function plainNumberText(text: string): string {
  const t = text.trim();
  if (/^-?[1-9]\d{0,2}(?:[ ,]\d{3})+(?:\.\d+)?$/.test(t)) return t.replace(/[ ,]/g, "");
  if (/^-?\d+,\d+$/.test(t)) return t.replace(",", ".");
  return t;
}

/** Normalises and parses one answer text; undefined when it has no usable structure. */
export function parseAnswerText(text: string, fromPlainNumber = false, percent = false): ParsedAnswer | undefined {
  const norm = normalizeAnswer(fromPlainNumber ? plainNumberText(text) : text);
  if (norm.latex.length === 0) return undefined;
  let node = parseAnswer(norm.latex);
  // An equation chain with an unreadable part ("1 = \\zzz = x = 0"): keep its last term, as Math-Verify does.
  if (node && !nodeReadable(node) && node.k === "rel" && node.ops.every((op) => op === "="))
    node = node.terms[node.terms.length - 1];
  if (!node || !nodeReadable(node)) return undefined;
  return { raw: text, latex: norm.latex, node, percent: percent || norm.percent };
}

function fromCandidate(c: Candidate): ParsedAnswer | undefined {
  return parseAnswerText(c.text, c.source === "number", c.percent ?? false);
}

/** The best-ranked candidate that parses: tiers in order, right to left within a tier. */
export function extractAnswer(
  response: string,
  extract: ExtractOptions = {},
): { candidate: Candidate; parsed: ParsedAnswer } | undefined {
  for (const c of extractCandidates(response, extract)) {
    const parsed = fromCandidate(c);
    if (parsed) return { candidate: c, parsed };
  }
  return undefined;
}

/** Reads a gold answer (see {@link MathVerifyOptions.goldFormat}). */
export function parseGold(gold: string, options: MathVerifyOptions = {}): ParsedAnswer | undefined {
  const format = options.goldFormat ?? MATH_VERIFY_DEFAULTS.goldFormat;
  if (format === "text") {
    const found = extractAnswer(gold, options.extract);
    if (found) return found.parsed;
  }
  let s = stripMathDelimiters(gold);
  const boxed = s.includes("\\boxed") || s.includes("\\fbox") ? lastBoxed(s) : undefined;
  if (boxed) s = boxed.content;
  return parseAnswerText(s);
}

function scaledPercent(n: AnswerNode): AnswerNode {
  return n.k === "expr" ? { k: "expr", latex: `\\frac{${n.latex}}{100}` } : n;
}

/** Equivalence of two parsed answers (gold first: the comparison is not symmetric for relations). */
export function answersEqual(gold: ParsedAnswer, pred: ParsedAnswer, options: MathVerifyOptions = {}): boolean {
  const o = resolveCompareOptions(options);
  const compact = (s: string) => s.replace(/\s+/g, "");
  if (compact(gold.latex) === compact(pred.latex)) return true;
  if (nodesEqual(gold.node, pred.node, o)) return true;
  // "28%" against "0.28": a percent sign on one side only may also mean a factor 1/100.
  if (pred.percent && !gold.percent && nodesEqual(gold.node, scaledPercent(pred.node), o)) return true;
  if (gold.percent && !pred.percent && nodesEqual(scaledPercent(gold.node), pred.node, o)) return true;
  return false;
}

/** Checks a response against a gold answer. Never throws on any response text. */
export function verifyMath(gold: string, response: string, options: MathVerifyOptions = {}): MathCheck {
  const maxResponse = options.maxResponseChars ?? MATH_VERIFY_DEFAULTS.maxResponseChars;
  const maxAnswer = options.maxAnswerChars ?? MATH_VERIFY_DEFAULTS.maxAnswerChars;
  let g: ParsedAnswer | undefined;
  try {
    g = parseGold(gold.length > maxResponse ? gold.slice(-maxResponse) : gold, options);
  } catch (e) {
    return { verdict: "bad_gold", reason: `gold answer could not be read: ${String(e)}` };
  }
  if (!g) return { verdict: "bad_gold", reason: "gold answer is empty or could not be parsed" };

  const text = response.length > maxResponse ? response.slice(-maxResponse) : response;
  const candidates = extractCandidates(text, options.extract);
  if (candidates.length === 0) return { verdict: "no_answer", gold: g.latex };
  let chosen: { c: Candidate; p: ParsedAnswer } | undefined;
  for (const c of candidates) {
    if (c.text.length > maxAnswer) {
      return {
        verdict: "wrong",
        extracted: c.text.slice(0, 200),
        gold: g.latex,
        reason: `answer longer than ${maxAnswer} characters`,
      };
    }
    const p = fromCandidate(c);
    if (p) {
      chosen = { c, p };
      break;
    }
  }
  if (!chosen)
    return {
      verdict: "wrong",
      extracted: candidates[0]!.text.slice(0, 200),
      gold: g.latex,
      reason: "answer could not be parsed",
    };
  const ok = answersEqual(g, chosen.p, options);
  return {
    verdict: ok ? "correct" : "wrong",
    extracted: chosen.c.text,
    normalized: chosen.p.latex,
    gold: g.latex,
  };
}

/** Checks two bare answers (no extraction from the prediction): is `pred` equivalent to `gold`? */
export function checkEquivalent(gold: string, pred: string, options: MathVerifyOptions = {}): MathCheck {
  const g = parseGold(gold, options);
  if (!g) return { verdict: "bad_gold", reason: "gold answer is empty or could not be parsed" };
  const maxAnswer = options.maxAnswerChars ?? MATH_VERIFY_DEFAULTS.maxAnswerChars;
  if (pred.length > maxAnswer)
    return { verdict: "wrong", gold: g.latex, reason: `answer longer than ${maxAnswer} characters` };
  const p = parseGold(pred, { ...options, goldFormat: "answer" });
  if (!p) return { verdict: "no_answer", gold: g.latex };
  const ok = answersEqual(g, p, options);
  return { verdict: ok ? "correct" : "wrong", extracted: pred, normalized: p.latex, gold: g.latex };
}
