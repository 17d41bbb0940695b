/**
 * Equivalence of two parsed answers (gold, prediction).
 *
 * Scalars are compared by `scalar.ts` (on the Compute Engine of `engine.ts`), relations with the
 * help of `relations.ts`. Structures (tuples, ordered; sets and bare lists,
 * unordered; intervals; unions; matrices; relation chains) recurse into their elements.
 *
 * Everything here is synchronous and may be slow on hostile input: run it in the worker pool.
 */

import { parseLatex, tooLarge } from "./engine.js";
import { chainValue, isAssignment, isEquationChain, latexOf, relationAsSet, relationEqual } from "./relations.js";
import { compact, type Opts, scalarEqual } from "./scalar.js";
import type { AnswerNode } from "./structure.js";

// ----- structures ----------------------------------------------------------------------------------

function orderedEqual(gs: AnswerNode[], ps: AnswerNode[], o: Opts, depth: number): boolean {
  return gs.length === ps.length && gs.every((g, i) => nodesEqual(g, ps[i]!, o, depth + 1));
}

/** A perfect matching between the two multisets under equivalence (backtracking; sizes are small). */
function unorderedEqual(gs: AnswerNode[], ps: AnswerNode[], o: Opts, depth: number): boolean {
  if (gs.length !== ps.length) return false;
  if (gs.length > 12) return orderedEqual(gs, ps, o, depth);
  const eq: boolean[][] = gs.map((g) => ps.map((p) => nodesEqual(g, p, o, depth + 1)));
  const used = new Array<boolean>(ps.length).fill(false);
  const assign = (i: number): boolean => {
    if (i === gs.length) return true;
    for (let j = 0; j < ps.length; j++) {
      if (!used[j] && eq[i]![j]) {
        used[j] = true;
        if (assign(i + 1)) return true;
        used[j] = false;
      }
    }
    return false;
  };
  return assign(0);
}

function isSetLike(n: AnswerNode): boolean {
  return n.k === "interval" || n.k === "union" || n.k === "set";
}

function vectorItems(n: AnswerNode): AnswerNode[] | undefined {
  if (n.k === "tuple" || n.k === "list") return n.items;
  if (n.k === "matrix") {
    if (n.rows.length === 1) return n.rows[0];
    if (n.rows.every((r) => r.length === 1)) return n.rows.map((r) => r[0]!);
  }
  return undefined;
}

/** Equivalence where either answer is a relation, following the gold's format (Math-Verify's rules). */
function withRelationEqual(g: AnswerNode, p: AnswerNode, o: Opts, depth: number): boolean {
  if (p.k === "rel" && g.k !== "rel" && isEquationChain(p)) return nodesEqual(g, chainValue(p), o, depth + 1);
  if (g.k === "rel" && p.k !== "rel" && isAssignment(g)) return nodesEqual(chainValue(g), p, o, depth + 1);
  if (g.k === "rel" && p.k === "rel") return relationsEqual(g, p, o, depth);
  if (g.k === "rel" && isSetLike(p)) {
    const gs = relationAsSet(g);
    return gs !== undefined && nodesEqual(gs, p, o, depth + 1);
  }
  if (p.k === "rel" && isSetLike(g) && o.allowSetRelation) {
    const ps = relationAsSet(p);
    return ps !== undefined && nodesEqual(g, ps, o, depth + 1);
  }
  return false;
}

/** Structural equivalence of two answers; `depth` guards recursion. */
export function nodesEqual(g: AnswerNode, p: AnswerNode, o: Opts, depth = 0): boolean {
  if (depth > 16) return false;
  if (g.k === "rel" || p.k === "rel") return withRelationEqual(g, p, o, depth);
  switch (g.k) {
    case "expr":
      if (p.k === "expr") return scalarEqual(g.latex, p.latex, o);
      if (p.k === "text") return textEqual(g.latex, p.text);
      // "\\boxed{15\\frac{39}{40}, \\frac{639}{40}}": the same value written twice
      if (p.k === "set" || p.k === "list")
        return p.items.length > 0 && p.items.length <= 4 && p.items.every((x) => nodesEqual(g, x, o, depth + 1));
      return false;
    case "text":
      if (p.k === "text") return textEqual(g.text, p.text);
      if (p.k === "expr") return textEqual(g.text, p.latex);
      return false;
    case "tuple": {
      if (p.k === "tuple" || p.k === "list") return orderedEqual(g.items, p.items, o, depth);
      if (p.k === "interval" && g.open === "(" && g.items.length === 2 && p.loOpen && p.hiOpen) {
        return orderedEqual(g.items, [p.lo, p.hi], o, depth);
      }
      const pv = vectorItems(p);
      return pv !== undefined && orderedEqual(g.items, pv, o, depth);
    }
    case "list": {
      if (p.k === "list" || p.k === "set") return unorderedEqual(g.items, p.items, o, depth);
      if (p.k === "tuple") return orderedEqual(g.items, p.items, o, depth);
      if (g.items.length === 1) return nodesEqual(g.items[0]!, p, o, depth + 1);
      const pv = vectorItems(p);
      return pv !== undefined && orderedEqual(g.items, pv, o, depth);
    }
    case "set":
      if (p.k === "set" || p.k === "list") return unorderedEqual(g.items, p.items, o, depth);
      if (g.items.length === 1 && p.k !== "tuple") return nodesEqual(g.items[0]!, p, o, depth + 1);
      return false;
    case "interval":
      if (p.k === "interval") {
        return (
          g.loOpen === p.loOpen &&
          g.hiOpen === p.hiOpen &&
          nodesEqual(g.lo, p.lo, o, depth + 1) &&
          nodesEqual(g.hi, p.hi, o, depth + 1)
        );
      }
      if (p.k === "tuple" && p.open === "(" && p.items.length === 2 && g.loOpen && g.hiOpen) {
        return orderedEqual([g.lo, g.hi], p.items, o, depth);
      }
      if (p.k === "union" && p.items.length === 1) return nodesEqual(g, p.items[0]!, o, depth + 1);
      return false;
    case "union":
      if (p.k === "union") return unorderedEqual(g.items, p.items, o, depth);
      if (g.items.length === 1) return nodesEqual(g.items[0]!, p, o, depth + 1);
      return false;
    case "matrix": {
      if (p.k === "matrix") {
        return (
          g.rows.length === p.rows.length &&
          g.rows.every(
            (r, i) => r.length === p.rows[i]!.length && r.every((c, j) => nodesEqual(c, p.rows[i]![j]!, o, depth + 1)),
          )
        );
      }
      const gv = vectorItems(g);
      const pv = vectorItems(p);
      return gv !== undefined && pv !== undefined && orderedEqual(gv, pv, o, depth);
    }
  }
}

function textEqual(a: string, b: string): boolean {
  const n = (s: string) =>
    s
      .replace(/\\text\{([^{}]*)\}/g, "$1")
      .replace(/\s+/g, "")
      .toLowerCase();
  return n(a).length > 0 && n(a) === n(b);
}

function relationsEqual(
  g: Extract<AnswerNode, { k: "rel" }>,
  p: Extract<AnswerNode, { k: "rel" }>,
  o: Opts,
  depth: number,
): boolean {
  // x = a = b = v vs y = ... = w: truncate assignments to "lhs = value"
  let gg = g;
  let pp = p;
  if (isAssignment(g)) gg = { k: "rel", terms: [g.terms[0]!, chainValue(g)], ops: ["="] };
  if (isAssignment(p)) pp = { k: "rel", terms: [p.terms[0]!, chainValue(p)], ops: ["="] };
  if (isAssignment(gg) && isAssignment(pp)) {
    const gl = latexOf(gg.terms[0]!);
    const pl = latexOf(pp.terms[0]!);
    if (gl !== undefined && pl !== undefined && compact(gl) === compact(pl)) {
      if (nodesEqual(gg.terms[1]!, pp.terms[1]!, o, depth + 1)) return true;
    }
  }
  // Single-variable inequality chains: compare as sets.
  if (gg.ops.some((op) => op !== "=") || pp.ops.some((op) => op !== "=")) {
    const gs = relationAsSet(gg);
    const ps = relationAsSet(pp);
    if (gs && ps && gg.ops.length === 2 && pp.ops.length === 2) return nodesEqual(gs, ps, o, depth + 1);
  }
  if (gg.ops.length !== pp.ops.length) return false;
  for (let i = 0; i < gg.ops.length; i++) {
    const a = [latexOf(gg.terms[i]!), gg.ops[i]!, latexOf(gg.terms[i + 1]!)] as const;
    const b = [latexOf(pp.terms[i]!), pp.ops[i]!, latexOf(pp.terms[i + 1]!)] as const;
    if (a[0] === undefined || a[2] === undefined || b[0] === undefined || b[2] === undefined) {
      if (
        !(
          nodesEqual(gg.terms[i]!, pp.terms[i]!, o, depth + 1) &&
          gg.ops[i] === pp.ops[i] &&
          nodesEqual(gg.terms[i + 1]!, pp.terms[i + 1]!, o, depth + 1)
        )
      )
        return false;
      continue;
    }
    if (!relationEqual([a[0], a[1], a[2]], [b[0], b[1], b[2]], o)) return false;
  }
  return true;
}

/**
 * True when every scalar leaf of the answer is readable by the engine (an oversized leaf counts as
 * readable: it is an answer, just one that is only equal to an identical string).
 */
export function nodeReadable(n: AnswerNode, depth = 0): boolean {
  if (depth > 16) return false;
  switch (n.k) {
    case "expr":
      return tooLarge(n.latex) || parseLatex(n.latex) !== undefined;
    case "text":
      return true;
    case "tuple":
    case "list":
    case "set":
    case "union":
      return n.items.every((x) => nodeReadable(x, depth + 1));
    case "interval":
      return nodeReadable(n.lo, depth + 1) && nodeReadable(n.hi, depth + 1);
    case "matrix":
      return n.rows.every((r) => r.every((x) => nodeReadable(x, depth + 1)));
    case "rel":
      return n.terms.every((x) => nodeReadable(x, depth + 1));
  }
}
