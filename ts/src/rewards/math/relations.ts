/**
 * Relations in answers: equation chains and assignments (`x = ... = v`), two relations compared as
 * `lhs - rhs` up to a (positive, for inequalities) factor, and a one-variable inequality chain read
 * as a set.
 */

import type { AnswerNode, RelOp } from "./structure.js";
import { atRandomPoints, type Boxed, ce, freeSymbols, parseLatex, tooLarge } from "./engine.js";
import { type Opts, scalarEqual } from "./scalar.js";

// ----- relations -----------------------------------------------------------------------------------

const FLIP: Record<string, RelOp> = { ">": "<", "\\ge": "\\le" };

const SYMBOL_ONLY = /^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[\w\\]+\}?)?(?:'|\^\{?\\prime\}?)?$/;

export function isSymbolOnly(n: AnswerNode): boolean {
  if (n.k === "expr")
    return SYMBOL_ONLY.test(n.latex.replace(/\s+/g, "")) || /^[a-zA-Z]\s*\([^()]*\)$/.test(n.latex.trim());
  if (n.k === "tuple" || n.k === "list") return n.items.every(isSymbolOnly);
  return false;
}

export function isEquationChain(n: AnswerNode): n is Extract<AnswerNode, { k: "rel" }> {
  return n.k === "rel" && n.ops.every((op) => op === "=" || op === "\\approx");
}

/** An assignment `x = ... = v`: an equation chain whose left side is a symbol (or tuple of symbols). */
export function isAssignment(n: AnswerNode): n is Extract<AnswerNode, { k: "rel" }> {
  return isEquationChain(n) && isSymbolOnly(n.terms[0]!);
}

/** The value an equation chain settles on: the last exact term before the first `\approx`. */
export function chainValue(n: Extract<AnswerNode, { k: "rel" }>): AnswerNode {
  const j = n.ops.indexOf("\\approx");
  if (j >= 1) return n.terms[j]!;
  return n.terms[n.terms.length - 1]!;
}

export function latexOf(n: AnswerNode): string | undefined {
  return n.k === "expr" ? n.latex : undefined;
}

/** `lhs op rhs` vs `lhs' op' rhs'`: same operator after flipping, and lhs-rhs proportional (positively for inequalities). */
export function relationEqual(g: [string, RelOp, string], p: [string, RelOp, string], o: Opts): boolean {
  let [gl, gop, gr] = g;
  let [pl, pop, pr] = p;
  if (gop === "\\approx") gop = "=";
  if (pop === "\\approx") pop = "=";
  if (FLIP[gop]) [gl, gop, gr] = [gr, FLIP[gop]!, gl];
  if (FLIP[pop]) [pl, pop, pr] = [pr, FLIP[pop]!, pl];
  if (gop !== pop) return false;
  if (scalarEqual(gl, pl, o) && scalarEqual(gr, pr, o)) return true;
  if ((gop === "=" || gop === "\\ne") && scalarEqual(gl, pr, o) && scalarEqual(gr, pl, o)) return true;
  if ([gl, gr, pl, pr].some(tooLarge)) return false;
  const parts = [gl, gr, pl, pr].map(parseLatex);
  if (parts.some((x) => x === undefined)) return false;
  const [a, b, c, d] = parts as Boxed[];
  const dg = ce().box(["Subtract", a!, b!]);
  const dp = ce().box(["Subtract", c!, d!]);
  const vars = freeSymbols(dg, dp);
  if (vars.length === 0) return false;
  let ratio: number | undefined;
  const positive = gop === "<" || gop === "\\le";
  return atRandomPoints(dg, dp, vars, o.randomPoints + 4, (x, y) => {
    if (Math.abs(y.re) < 1e-12) return Math.abs(x.re) < 1e-12;
    const r = x.re / y.re;
    if (!Number.isFinite(r) || Math.abs(r) < 1e-12) return false;
    if (positive && r <= 0) return false;
    if (ratio === undefined) {
      ratio = r;
      return true;
    }
    return Math.abs(r - ratio) <= 1e-8 * Math.max(1, Math.abs(ratio));
  });
}

const INF = (neg: boolean): AnswerNode => ({ k: "expr", latex: neg ? "-\\infty" : "\\infty" });

/** A relation chain in one variable as a set: `a < x \le b` -> (a, b]; `x \ne a` -> union. */
export function relationAsSet(n: Extract<AnswerNode, { k: "rel" }>): AnswerNode | undefined {
  const isVar = (t: AnswerNode) => t.k === "expr" && SYMBOL_ONLY.test(t.latex.replace(/\s+/g, ""));
  const flipOp = (op: RelOp): RelOp =>
    op === "<" ? ">" : op === ">" ? "<" : op === "\\le" ? "\\ge" : op === "\\ge" ? "\\le" : op;
  if (n.terms.length === 2) {
    let [x, a] = n.terms as [AnswerNode, AnswerNode];
    let op = n.ops[0]!;
    if (!isVar(x) && isVar(a)) {
      [x, a] = [a, x];
      op = flipOp(op);
    }
    if (!isVar(x) || isVar(a)) return undefined;
    switch (op) {
      case "<":
        return { k: "interval", lo: INF(true), hi: a, loOpen: true, hiOpen: true };
      case "\\le":
        return { k: "interval", lo: INF(true), hi: a, loOpen: true, hiOpen: false };
      case ">":
        return { k: "interval", lo: a, hi: INF(false), loOpen: true, hiOpen: true };
      case "\\ge":
        return { k: "interval", lo: a, hi: INF(false), loOpen: false, hiOpen: true };
      case "\\ne":
        return {
          k: "union",
          items: [
            { k: "interval", lo: INF(true), hi: a, loOpen: true, hiOpen: true },
            { k: "interval", lo: a, hi: INF(false), loOpen: true, hiOpen: true },
          ],
        };
      case "=":
        return { k: "set", items: a.k === "list" ? a.items : [a] };
      default:
        return undefined;
    }
  }
  if (n.terms.length === 3 && isVar(n.terms[1]!) && !isVar(n.terms[0]!) && !isVar(n.terms[2]!)) {
    const [o1, o2] = n.ops as [RelOp, RelOp];
    const up = (o1 === "<" || o1 === "\\le") && (o2 === "<" || o2 === "\\le");
    const down = (o1 === ">" || o1 === "\\ge") && (o2 === ">" || o2 === "\\ge");
    if (up) return { k: "interval", lo: n.terms[0]!, hi: n.terms[2]!, loOpen: o1 === "<", hiOpen: o2 === "<" };
    if (down) return { k: "interval", lo: n.terms[2]!, hi: n.terms[0]!, loOpen: o2 === ">", hiOpen: o1 === ">" };
  }
  return undefined;
}
