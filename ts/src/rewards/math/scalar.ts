/**
 * Equality of two scalar answers (LaTeX), and the comparison's options.
 *
 * Decided, in order, by: equal normalised strings; exact BigInt rationals for integer, fraction
 * and decimal literals (integers never get a float tolerance); the Compute Engine for everything
 * else: structural identity of canonical forms, numeric evaluation of constant expressions
 * (radicals, pi, logs), and, for expressions with free variables, a zero simplified difference,
 * else random-point evaluation (the expressions compare as functions). A decimal on either side is
 * compared with a relative tolerance (`relTol`), or rounded to `decimalPlaces` when that is set
 * (Math-Verify's `float_rounding`); exact expressions get a tight tolerance (1e-9).
 */

import { Rational } from "../rational.js";
import {
  atRandomPoints,
  ce,
  exactValue,
  freeSymbols,
  type Num,
  numeric,
  parseLatex,
  sameValue,
  tooLarge,
} from "./engine.js";

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

// ----- scalar comparison ---------------------------------------------------------------------------

export type Opts = Required<Omit<CompareOptions, "decimalPlaces">> & { decimalPlaces?: number };

export function compact(s: string): string {
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

/** Resolves {@link CompareOptions} against the defaults. */
export function resolveCompareOptions(options: CompareOptions = {}): Opts {
  return {
    relTol: options.relTol ?? COMPARE_DEFAULTS.relTol,
    allowSetRelation: options.allowSetRelation ?? COMPARE_DEFAULTS.allowSetRelation,
    randomPoints: options.randomPoints ?? COMPARE_DEFAULTS.randomPoints,
    ...(options.decimalPlaces !== undefined ? { decimalPlaces: options.decimalPlaces } : {}),
  };
}
