/**
 * The Compute Engine (`@cortex-js/compute-engine`) behind the math comparison: LaTeX rewritten for
 * it and parsed once per worker, a guard against hostile input, numeric evaluation (constants, and
 * expressions with free variables at seeded random points) and exact rational values.
 *
 * Everything here is synchronous and may be slow on hostile input: run it in the worker pool.
 */

import { ComputeEngine } from "@cortex-js/compute-engine";
import { Rational } from "../rational.js";
import { hashSeed, mulberry32 } from "../../util/random.js";

export type Boxed = ReturnType<ComputeEngine["parse"]>;

let engine: ComputeEngine | undefined;
export function ce(): ComputeEngine {
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
export function parseLatex(latex: string): Boxed | undefined {
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

export interface Num {
  re: number;
  im: number;
}

export function numeric(e: Boxed): Num | undefined {
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

export function freeSymbols(...es: Boxed[]): string[] {
  const s = new Set<string>();
  for (const e of es) for (const u of e.unknowns) if (!CONSTANT_SYMBOLS.has(u)) s.add(u);
  return [...s].sort();
}

/**
 * Evaluates `f(g(pt), p(pt))` at random points; true when at least 3 points are defined on both sides,
 * `agree` holds at all of them, and no point is defined on one side only.
 */
export function atRandomPoints(
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

/** The exact value of a MathJSON number: a JS number or `{num: "1.5e-3"}`; undefined otherwise. */
function exactNumber(json: unknown): Rational | undefined {
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
  return undefined;
}

/** `base ^ ex` for an integer `ex`, refused when the result would be huge. */
function exactPower(base: Rational, ex: Rational | undefined): Rational | undefined {
  if (!ex?.isInteger()) return undefined;
  const n = ex.num < 0n ? -ex.num : ex.num;
  const digits = Math.max(base.num.toString().length, base.den.toString().length);
  if (n > 100_000n || Number(n) * digits > 20_000) return undefined;
  const p = Rational.of(base.num ** n, base.den ** n);
  return ex.num < 0n ? Rational.ONE.div(p) : p;
}

/** The square root of a rational whose numerator and denominator are perfect squares. */
function exactSqrt(x: Rational): Rational | undefined {
  if (x.num < 0n) return undefined;
  const root = (n: bigint): bigint | undefined => {
    if (n < 2n) return n;
    let y = BigInt(Math.floor(Math.sqrt(Number(n))));
    for (let i = 0; i < 100 && y * y !== n; i++) y = (y + n / y) / 2n;
    return y * y === n ? y : undefined;
  };
  const a = root(x.num);
  const b = root(x.den);
  return a !== undefined && b !== undefined ? Rational.of(a, b) : undefined;
}

/** `n!` for an integer 0 <= n <= 1000. */
function exactFactorial(x: Rational): Rational | undefined {
  if (!x.isInteger() || x.num < 0n || x.num > 1000n) return undefined;
  let f = 1n;
  for (let k = 2n; k <= x.num; k++) f *= k;
  return Rational.of(f);
}

/** The MathJSON operators {@link exactValue} evaluates, on their arguments' exact values. */
const EXACT_OPERATORS = new Map<string, (v: Rational[]) => Rational | undefined>([
  ["Rational", (v) => (v.length === 2 ? v[0]!.div(v[1]!) : undefined)],
  ["Divide", (v) => (v.length === 2 ? v[0]!.div(v[1]!) : undefined)],
  ["Add", (v) => v.reduce((x, y) => x.add(y))],
  ["Subtract", (v) => (v.length === 2 ? v[0]!.sub(v[1]!) : undefined)],
  ["Negate", (v) => (v.length === 1 ? v[0]!.neg() : undefined)],
  ["Multiply", (v) => v.reduce((x, y) => x.mul(y))],
  ["Power", (v) => (v.length === 0 ? undefined : exactPower(v[0]!, v[1]))],
  ["Square", (v) => (v.length === 0 ? undefined : exactPower(v[0]!, Rational.of(2n)))],
  ["Sqrt", (v) => (v.length === 1 ? exactSqrt(v[0]!) : undefined)],
  ["Factorial", (v) => (v.length === 1 ? exactFactorial(v[0]!) : undefined)],
]);

/**
 * The exact rational value of a constant MathJSON expression built from integers, decimals,
 * `+ - * /`, integer powers, square roots of perfect squares and small factorials; undefined for
 * anything else. (The engine's own evaluation rounds large or tiny values to 20 digits.)
 */
export function exactValue(json: unknown, budget = { nodes: 0 }): Rational | undefined {
  if (++budget.nodes > 500) return undefined;
  if (!Array.isArray(json)) return exactNumber(json);
  if (typeof json[0] !== "string") return undefined;
  const [head, ...args] = json as [string, ...unknown[]];
  const operator = EXACT_OPERATORS.get(head);
  if (!operator) return undefined;
  const values: Rational[] = [];
  for (const a of args) {
    const v = exactValue(a, budget);
    if (v === undefined) return undefined;
    values.push(v);
  }
  return operator(values);
}

export function sameValue(a: Num, b: Num): boolean {
  const scale = Math.max(1, Math.abs(a.re), Math.abs(b.re));
  return Math.abs(a.re - b.re) <= 1e-8 * scale && Math.abs(a.im - b.im) <= 1e-8 * scale;
}
