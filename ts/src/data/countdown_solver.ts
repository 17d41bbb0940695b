/**
 * Countdown solver: finds an expression over `+ - * /` and parentheses that uses each given number
 * exactly once and equals the target, by exhaustive search over pairwise combinations with exact
 * BigInt fractions (so intermediate fractions such as `(1/3)*3` are exact). Used to check that the
 * Countdown verifier accepts every correct solution, and to build SFT data.
 *
 * The search combines two of the remaining values with one operator until one value is left, so it
 * visits every expression tree; for 4 numbers that is about 10^4 nodes, well under a millisecond.
 * Solutions are rendered with the fewest parentheses that keep the evaluation order, without unary
 * minus, so each one is accepted by `scoreCountdown` under its default options.
 */

import { Rational } from "../rewards/rational.js";

/** Binding strength of the rendered expression's top operator: 2 for a literal or a parenthesised group. */
type Prec = 0 | 1 | 2;

interface Item {
  value: Rational;
  text: string;
  prec: Prec; // 0: + or -, 1: * or /, 2: atom
  /** The arithmetic that built this value, one `a op b = c` per combination, in order. */
  steps: string[];
}

function wrap(item: Item, minPrec: Prec): string {
  return item.prec < minPrec ? `(${item.text})` : item.text;
}

function combine(a: Item, b: Item): Item[] {
  const out: Item[] = [];
  const step = (x: Item, op: string, y: Item, value: Rational) => [
    ...a.steps,
    ...b.steps,
    `${x.value} ${op} ${y.value} = ${value}`,
  ];
  const add = a.value.add(b.value);
  out.push({ value: add, text: `${a.text} + ${wrap(b, 1)}`, prec: 0, steps: step(a, "+", b, add) });
  const ab = a.value.sub(b.value);
  out.push({ value: ab, text: `${a.text} - ${wrap(b, 1)}`, prec: 0, steps: step(a, "-", b, ab) });
  const ba = b.value.sub(a.value);
  out.push({ value: ba, text: `${b.text} - ${wrap(a, 1)}`, prec: 0, steps: step(b, "-", a, ba) });
  const mul = a.value.mul(b.value);
  out.push({ value: mul, text: `${wrap(a, 1)} * ${wrap(b, 2)}`, prec: 1, steps: step(a, "*", b, mul) });
  const q1 = a.value.div(b.value);
  if (q1 !== undefined)
    out.push({ value: q1, text: `${wrap(a, 1)} / ${wrap(b, 2)}`, prec: 1, steps: step(a, "/", b, q1) });
  const q2 = b.value.div(a.value);
  if (q2 !== undefined)
    out.push({ value: q2, text: `${wrap(b, 1)} / ${wrap(a, 2)}`, prec: 1, steps: step(b, "/", a, q2) });
  return out;
}

/** Options of {@link solveCountdownAll}. */
export interface SolveOptions {
  /** Stop after this many solutions. Default 1. */
  limit?: number;
}

/** A solution: the expression, and the arithmetic steps that evaluate it (`a op b = c`, in order). */
export interface CountdownSolution {
  expression: string;
  steps: string[];
}

/** Up to `limit` distinct solutions with their steps (see {@link solveCountdownAll}). */
export function solveCountdownSteps(
  nums: readonly number[],
  target: number,
  options: SolveOptions = {},
): CountdownSolution[] {
  const limit = options.limit ?? 1;
  const goal = Rational.of(BigInt(target));
  const found = new Map<string, string[]>();
  const start: Item[] = nums.map((n) => ({ value: Rational.of(BigInt(n)), text: String(n), prec: 2, steps: [] }));
  // Memoise dead ends: the same multiset of intermediate values cannot reach the goal twice.
  const dead = new Set<string>();

  const search = (items: Item[]): boolean => {
    if (items.length === 1) {
      if (items[0]!.value.equals(goal) && !found.has(items[0]!.text)) found.set(items[0]!.text, items[0]!.steps);
      return found.size >= limit;
    }
    const key = items
      .map((it) => it.value.toString())
      .sort()
      .join(",");
    if (dead.has(key)) return false;
    const before = found.size;
    for (let i = 0; i < items.length; i++) {
      for (let j = i + 1; j < items.length; j++) {
        const rest = items.filter((_, k) => k !== i && k !== j);
        for (const c of combine(items[i]!, items[j]!)) {
          if (search([...rest, c])) return true;
        }
      }
    }
    if (found.size === before) dead.add(key);
    return false;
  };

  if (nums.length > 0) search(start);
  return [...found].map(([expression, steps]) => ({ expression, steps }));
}

/**
 * Up to `limit` distinct solution strings (different renderings; algebraically equal solutions
 * may appear more than once under different shapes).
 */
export function solveCountdownAll(nums: readonly number[], target: number, options: SolveOptions = {}): string[] {
  return solveCountdownSteps(nums, target, options).map((s) => s.expression);
}

/** One solution of the task, or undefined when none exists. */
export function solveCountdown(nums: readonly number[], target: number): string | undefined {
  return solveCountdownAll(nums, target, { limit: 1 })[0];
}
