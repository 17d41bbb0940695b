/**
 * Equivalence of two parsed answers (gold, prediction).
 *
 * Scalars are decided, in order, by: equal normalised strings; exact BigInt rationals for integer,
 * fraction and decimal literals (integers never get a float tolerance); the Compute Engine
 * (`@cortex-js/compute-engine`) for everything else: structural identity of canonical forms, numeric
 * evaluation of constant expressions (radicals, pi, logs), and, for expressions with free variables,
 * a zero simplified difference, else random-point evaluation (the expressions compare as functions).
 *
 * A decimal on either side is compared with a relative tolerance (`relTol`), or rounded to
 * `decimalPlaces` when that is set (Math-Verify's `float_rounding`). Exact expressions get a tight
 * tolerance (1e-9) on their numeric values. Structures (tuples, ordered; sets and bare lists,
 * unordered; intervals; unions; matrices; relation chains) recurse into their elements.
 *
 * Everything here is synchronous and may be slow on hostile input: run it in the worker pool.
 */

import { ComputeEngine } from "@cortex-js/compute-engine";
import { Rational } from "../rational.js";
import type { AnswerNode, RelOp } from "./structure.js";
import { hashSeed, mulberry32 } from "../../util/random.js";

type Boxed = ReturnType<ComputeEngine["parse"]>;

/** Tolerances and switches of the comparison. */
export interface CompareOptions {
  /** Relative tolerance when either side contains a decimal. Default 1e-6. */
  relTol?: number;
  /** When set, decimals are compared after rounding both sides to this many places (Math-Verify's `float_rounding`). */
  decimalPlaces?: number;
  /**
   * Also compare a gold set (interval) with a predicted relation such as `-2 \le x \le 7`. A gold
   * relation is always compared with a predicted set. Default false (as Math-Verify).
   */
  allowSetRelation?: boolean;
  /** Random points for comparing expressions with free variables. Default 8. */
  randomPoints?: number;
}

/** Defaults of {@link CompareOptions}. */
export const COMPARE_DEFAULTS = { relTol: 1e-6, allowSetRelation: false, randomPoints: 8 } as const;

const EXACT_TOL = 1e-9;

let engine: ComputeEngine | undefined;
function ce(): ComputeEngine {
  if (!engine) engine = new ComputeEngine();
  return engine;
}

/** Rewrites `\binom{a}{b}` (unknown to the engine) as factorials; brace-aware, at most 20 times. */
function rewriteBinom(s: string): string {
  for (let guard = 0; guard < 20; guard++) {
    const at = s.indexOf("\\binom");
    if (at < 0) return s;
    const a = braceArg(s, at + 6);
    const b = a ? braceArg(s, a.end) : undefined;
    if (!a || !b) return s;
    s = `${s.slice(0, at)}\\frac{(${a.body})!}{(${b.body})!((${a.body})-(${b.body}))!}${s.slice(b.end)}`;
  }
  return s;
}

/** The `{...}` (or single character) argument starting at or after `i`. */
function braceArg(s: string, i: number): { body: string; end: number } | undefined {
  while (s[i] === " ") i++;
  if (s[i] !== "{") return /[\w]/.test(s[i] ?? "") ? { body: s[i]!, end: i + 1 } : undefined;
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    if (s[j] === "{") depth++;
    else if (s[j] === "}" && --depth === 0) return { body: s.slice(i + 1, j), end: j + 1 };
  }
  return undefined;
}

/**
 * LaTeX as the engine should read it: subscripted names (`a_1`, `x_{10}`, which it reads as indexing)
 * and the letters it reserves (`N`, `D`) become plain symbols, `\binom` becomes factorials, and
 * `\angle` is dropped.
 */
export function toEngineLatex(latex: string): string {
  let s = latex.replace(/\\angle(?![a-zA-Z])/g, " ").replace(/\s+!/g, "!");
  s = s.replace(
    /(?<![\\a-zA-Z])([A-Za-z])_\{([A-Za-z0-9]{1,8})\}|(?<![\\a-zA-Z])([A-Za-z])_([A-Za-z0-9])/g,
    (_m, a?: string, b?: string, c?: string, d?: string) => `\\operatorname{${a ?? c}SUB${b ?? d}}`,
  );
  s = s.replace(/(?<![\\a-zA-Z])([ND])(?![a-zA-Z])/g, "\\operatorname{$1VAR}");
  return rewriteBinom(s);
}

/** Parse cache (per worker): gold answers repeat across a group of responses. */
const parseCache = new Map<string, Boxed | null>();
function parseLatex(latex: string): Boxed | undefined {
  const hit = parseCache.get(latex);
  if (hit !== undefined) return hit ?? undefined;
  let out: Boxed | null = null;
  try {
    const e = ce().parse(toEngineLatex(latex));
    out = e.isValid ? e : null;
  } catch {
    out = null;
  }
  if (parseCache.size > 2000) parseCache.clear();
  parseCache.set(latex, out);
  return out ?? undefined;
}

// ----- exact literals ------------------------------------------------------------------------------

/** An exact literal: integer, decimal or simple fraction. */
export interface ExactLiteral {
  value: Rational;
  kind: "int" | "dec" | "frac";
}

/** Reads `-12`, `3.25`, `\frac{-10}{9}`, `-\frac{10}{9}`, `10/9`; undefined for anything else. */
export function exactLiteral(latex: string): ExactLiteral | undefined {
  const s = latex.replace(/\s+/g, "").replace(/^\{([^{}]*)\}$/, "$1");
  if (s.length > 4000) return undefined;
  if (/^[+-]?\d+$/.test(s)) return { value: Rational.of(BigInt(s.replace(/^\+/, ""))), kind: "int" };
  if (/^[+-]?(?:\d+\.\d*|\.\d+)$/.test(s)) {
    const v = Rational.parseDecimal(s.replace(/^\+/, ""));
    return v ? { value: v, kind: "dec" } : undefined;
  }
  const f =
    /^([+-]?)\\frac\{([+-]?\d+)\}\{([+-]?\d+)\}$/.exec(s) ?? /^([+-]?)\(?([+-]?\d+)\)?\/\(?([+-]?\d+)\)?$/.exec(s);
  if (f) {
    const den = BigInt(f[3]!);
    if (den === 0n) return undefined;
    const v = Rational.of(BigInt(f[2]!), den);
    return { value: f[1] === "-" ? v.neg() : v, kind: "frac" };
  }
  return undefined;
}

const HAS_DECIMAL = /\d\.\d|(?<![\d}])\.\d/;

function closeFloat(
  a: number,
  b: number,
  o: Required<Omit<CompareOptions, "decimalPlaces">> & { decimalPlaces?: number },
): boolean {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  const scale = Math.max(Math.abs(a), Math.abs(b));
  if (Math.abs(a - b) <= 1e-12 * Math.max(1, scale)) return true;
  if (o.decimalPlaces !== undefined) {
    const f = 10 ** o.decimalPlaces;
    return Math.round(a * f) === Math.round(b * f);
  }
  return Math.abs(a - b) <= o.relTol * scale;
}

function closeExact(a: number, b: number): boolean {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= EXACT_TOL * Math.max(1, Math.abs(a), Math.abs(b));
}

// ----- hostile-input guard -------------------------------------------------------------------------

/**
 * True when a scalar is too large to hand to the engine: exponent towers (`10^{10^{10}}`), exponents
 * of five or more digits, factorials of four or more digits, literals of more than 400 digits, or
 * nesting deeper than 40.
 */
export function tooLarge(latex: string): boolean {
  if (latex.length > 2000) return true;
  if (/\^\s*\{[^{}]*\^/.test(latex) || /\^\s*\{[^{}]*\{[^{}]*\^/.test(latex)) return true;
  if (/\^\s*\{?\s*\(?\s*-?\d{5,}/.test(latex)) return true;
  if (/\d{4,}\s*!|\\Gamma|\\binom\s*\{\s*\d{5,}/.test(latex)) return true;
  if (/\d{401,}/.test(latex)) return true;
  let depth = 0;
  for (const c of latex) {
    if (c === "{" || c === "(" || c === "[") {
      if (++depth > 40) return true;
    } else if (c === "}" || c === ")" || c === "]") depth--;
  }
  return false;
}

// ----- numeric evaluation --------------------------------------------------------------------------

interface Num {
  re: number;
  im: number;
}

function numeric(e: Boxed): Num | undefined {
  try {
    const n = e.N();
    const re = n.re;
    const im = n.im;
    if (typeof re !== "number" || Number.isNaN(re)) return undefined;
    return { re, im: typeof im === "number" && !Number.isNaN(im) ? im : 0 };
  } catch {
    return undefined;
  }
}

const CONSTANT_SYMBOLS = new Set([
  "Pi",
  "ExponentialE",
  "ImaginaryUnit",
  "PositiveInfinity",
  "NegativeInfinity",
  "ComplexInfinity",
  "NaN",
]);

function freeSymbols(...es: Boxed[]): string[] {
  const s = new Set<string>();
  for (const e of es) for (const u of e.unknowns) if (!CONSTANT_SYMBOLS.has(u)) s.add(u);
  return [...s].sort();
}

/**
 * Evaluates `f(g(pt), p(pt))` at random points; true when at least 3 points are defined on both sides,
 * `agree` holds at all of them, and no point is defined on one side only.
 */
function atRandomPoints(
  g: Boxed,
  p: Boxed,
  vars: string[],
  points: number,
  agree: (a: Num, b: Num) => boolean,
): boolean {
  // Seeded from the two expressions, so verdicts are reproducible.
  const rand = mulberry32(hashSeed(`${JSON.stringify(g.json)}|${JSON.stringify(p.json)}`));
  let valid = 0;
  for (let k = 0; k < points; k++) {
    const sub: Record<string, number> = {};
    for (const v of vars) {
      const mag = 0.3 + 2.7 * rand();
      sub[v] = k % 2 === 0 ? mag : -mag;
    }
    let a: Num | undefined;
    let b: Num | undefined;
    try {
      a = numeric(g.subs(sub));
      b = numeric(p.subs(sub));
    } catch {
      return false;
    }
    const aOk = a !== undefined && Number.isFinite(a.re) && Math.abs(a.im) < 1e-12;
    const bOk = b !== undefined && Number.isFinite(b.re) && Math.abs(b.im) < 1e-12;
    if (!aOk && !bOk) continue;
    if (aOk !== bOk) return false;
    if (!agree(a!, b!)) return false;
    valid++;
  }
  return valid >= 3;
}

/**
 * The exact rational value of a constant MathJSON expression built from integers, decimals,
 * `+ - * /`, integer powers, square roots of perfect squares and small factorials; undefined for
 * anything else. (The engine's own evaluation rounds large or tiny values to 20 digits.)
 */
export function exactValue(json: unknown, budget = { nodes: 0 }): Rational | undefined {
  if (++budget.nodes > 500) return undefined;
  if (typeof json === "number") {
    if (!Number.isFinite(json)) return undefined;
    return Number.isInteger(json) && Number.isSafeInteger(json)
      ? Rational.of(BigInt(json))
      : Rational.parseDecimal(String(json));
  }
  if (json && typeof json === "object" && !Array.isArray(json)) {
    const num = (json as { num?: unknown }).num;
    if (typeof num !== "string") return undefined;
    const m = /^(-?\d+(?:\.\d+)?)(?:e([+-]?\d+))?$/.exec(num);
    if (!m) return undefined;
    const base = Rational.parseDecimal(m[1]!);
    const e = m[2] ? Number(m[2]) : 0;
    if (!base || Math.abs(e) > 400) return undefined;
    const p = Rational.of(10n ** BigInt(Math.abs(e)));
    return e >= 0 ? base.mul(p) : base.div(p);
  }
  if (!Array.isArray(json) || typeof json[0] !== "string") return undefined;
  const [head, ...args] = json as [string, ...unknown[]];
  const vals = (): Rational[] | undefined => {
    const out: Rational[] = [];
    for (const a of args) {
      const v = exactValue(a, budget);
      if (v === undefined) return undefined;
      out.push(v);
    }
    return out;
  };
  switch (head) {
    case "Rational":
    case "Divide": {
      const v = vals();
      return v && v.length === 2 ? v[0]!.div(v[1]!) : undefined;
    }
    case "Add": {
      const v = vals();
      return v?.reduce((x, y) => x.add(y));
    }
    case "Subtract": {
      const v = vals();
      return v && v.length === 2 ? v[0]!.sub(v[1]!) : undefined;
    }
    case "Negate": {
      const v = vals();
      return v && v.length === 1 ? v[0]!.neg() : undefined;
    }
    case "Multiply": {
      const v = vals();
      return v?.reduce((x, y) => x.mul(y));
    }
    case "Power":
    case "Square": {
      const v = vals();
      if (!v || v.length === 0) return undefined;
      const base = v[0]!;
      const ex = head === "Square" ? Rational.of(2n) : v[1];
      if (!ex?.isInteger()) return undefined;
      const n = ex.num < 0n ? -ex.num : ex.num;
      const digits = Math.max(base.num.toString().length, base.den.toString().length);
      if (n > 100_000n || Number(n) * digits > 20_000) return undefined;
      const p = Rational.of(base.num ** n, base.den ** n);
      return ex.num < 0n ? Rational.ONE.div(p) : p;
    }
    case "Sqrt": {
      const v = vals();
      if (v?.length !== 1 || v[0]!.num < 0n) return undefined;
      const r = (x: bigint): bigint | undefined => {
        if (x < 2n) return x;
        let y = BigInt(Math.floor(Math.sqrt(Number(x))));
        for (let i = 0; i < 100 && y * y !== x; i++) y = (y + x / y) / 2n;
        return y * y === x ? y : undefined;
      };
      const a = r(v[0]!.num);
      const b = r(v[0]!.den);
      return a !== undefined && b !== undefined ? Rational.of(a, b) : undefined;
    }
    case "Factorial": {
      const v = vals();
      if (v?.length !== 1 || !v[0]!.isInteger() || v[0]!.num < 0n || v[0]!.num > 1000n) return undefined;
      let f = 1n;
      for (let k = 2n; k <= v[0]!.num; k++) f *= k;
      return Rational.of(f);
    }
    default:
      return undefined;
  }
}

function sameValue(a: Num, b: Num): boolean {
  const scale = Math.max(1, Math.abs(a.re), Math.abs(b.re));
  return Math.abs(a.re - b.re) <= 1e-8 * scale && Math.abs(a.im - b.im) <= 1e-8 * scale;
}

// ----- scalar comparison ---------------------------------------------------------------------------

type Opts = Required<Omit<CompareOptions, "decimalPlaces">> & { decimalPlaces?: number };

function compact(s: string): string {
  return s.replace(/\s+/g, "").replace(/\\,|\\!/g, "");
}

/** Equality of two scalar LaTeX expressions. */
export function scalarEqual(gLatex: string, pLatex: string, o: Opts): boolean {
  const gs = compact(gLatex);
  const ps = compact(pLatex);
  if (gs === ps) return gs.length > 0;

  const gx = exactLiteral(gLatex);
  const px = exactLiteral(pLatex);
  if (gx && px) {
    if (gx.value.equals(px.value)) return true;
    if (gx.kind === "int") return false; // integers are exact
    if (gx.kind === "dec" || px.kind === "dec") return closeFloat(gx.value.toNumber(), px.value.toNumber(), o);
    return false;
  }

  if (tooLarge(gLatex) || tooLarge(pLatex)) return false;
  const g = parseLatex(gLatex);
  const p = parseLatex(pLatex);
  if (!g || !p) return false;
  if (g.isSame(p)) return true;

  const decimals = HAS_DECIMAL.test(gLatex) || HAS_DECIMAL.test(pLatex);
  const vars = freeSymbols(g, p);
  if (vars.length === 0) {
    // Rational-valued constants are compared exactly (2^{10} + 10^{-12} is not 1024, however close in doubles).
    const ge = exactValue(g.json);
    const pe = exactValue(p.json);
    if (ge && pe) {
      if (ge.equals(pe)) return true;
      if (!decimals || gx?.kind === "int") return false;
      return closeFloat(ge.toNumber(), pe.toNumber(), o);
    }
    const a = numeric(g);
    const b = numeric(p);
    if (!a || !b) return false;
    if (Math.abs(a.im) > 1e-12 || Math.abs(b.im) > 1e-12) {
      return decimals
        ? closeFloat(a.re, b.re, o) && closeFloat(a.im, b.im, o)
        : closeExact(a.re, b.re) && closeExact(a.im, b.im);
    }
    if (gx?.kind === "int" && decimals) return false; // an integer gold is never matched by a rounded decimal
    return decimals ? closeFloat(a.re, b.re, o) : closeExact(a.re, b.re);
  }

  try {
    const diff = ce().box(["Subtract", g, p]).simplify();
    if (diff.isSame(ce().number(0))) return true;
  } catch {
    // fall through to random points
  }
  const tol = decimals ? (a: Num, b: Num) => closeFloat(a.re, b.re, o) && closeFloat(a.im, b.im, o) : sameValue;
  return atRandomPoints(g, p, vars, o.randomPoints, tol);
}

// ----- relations -----------------------------------------------------------------------------------

const FLIP: Record<string, RelOp> = { ">": "<", "\\ge": "\\le" };

const SYMBOL_ONLY = /^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:_\{?[\w\\]+\}?)?(?:'|\^\{?\\prime\}?)?$/;

function isSymbolOnly(n: AnswerNode): boolean {
  if (n.k === "expr")
    return SYMBOL_ONLY.test(n.latex.replace(/\s+/g, "")) || /^[a-zA-Z]\s*\([^()]*\)$/.test(n.latex.trim());
  if (n.k === "tuple" || n.k === "list") return n.items.every(isSymbolOnly);
  return false;
}

function isEquationChain(n: AnswerNode): n is Extract<AnswerNode, { k: "rel" }> {
  return n.k === "rel" && n.ops.every((op) => op === "=" || op === "\\approx");
}

/** An assignment `x = ... = v`: an equation chain whose left side is a symbol (or tuple of symbols). */
function isAssignment(n: AnswerNode): n is Extract<AnswerNode, { k: "rel" }> {
  return isEquationChain(n) && isSymbolOnly(n.terms[0]!);
}

/** The value an equation chain settles on: the last exact term before the first `\approx`. */
function chainValue(n: Extract<AnswerNode, { k: "rel" }>): AnswerNode {
  const j = n.ops.indexOf("\\approx");
  if (j >= 1) return n.terms[j]!;
  return n.terms[n.terms.length - 1]!;
}

function latexOf(n: AnswerNode): string | undefined {
  return n.k === "expr" ? n.latex : undefined;
}

/** `lhs op rhs` vs `lhs' op' rhs'`: same operator after flipping, and lhs-rhs proportional (positively for inequalities). */
function relationEqual(g: [string, RelOp, string], p: [string, RelOp, string], o: Opts): boolean {
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

/** Structural equivalence of two answers; `depth` guards recursion. */
export function nodesEqual(g: AnswerNode, p: AnswerNode, o: Opts, depth = 0): boolean {
  if (depth > 16) return false;

  // Relations: follow the gold's format (Math-Verify's rules).
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
  if (g.k === "rel" || p.k === "rel") return false;

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

/** Resolves {@link CompareOptions} against the defaults. */
export function resolveCompareOptions(options: CompareOptions = {}): Opts {
  return {
    relTol: options.relTol ?? COMPARE_DEFAULTS.relTol,
    allowSetRelation: options.allowSetRelation ?? COMPARE_DEFAULTS.allowSetRelation,
    randomPoints: options.randomPoints ?? COMPARE_DEFAULTS.randomPoints,
    ...(options.decimalPlaces !== undefined ? { decimalPlaces: options.decimalPlaces } : {}),
  };
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
