/**
 * Countdown reward: is the last `<answer>...</answer>` of a response an arithmetic expression that uses
 * every given number exactly once and equals the target?
 *
 * Scoring follows TinyZero (`verl/utils/reward_score/countdown.py`), the reference most Countdown
 * results are reported with: 1.0 correct, `formatScore` (0.1) when an answer is present but wrong or
 * malformed, 0 when there is no answer. Unlike TinyZero the expression is never `eval`-ed: it is
 * parsed by a small recursive-descent parser and evaluated with exact BigInt fractions, so `1/3*3`
 * is exactly 1 and no float tolerance is involved.
 *
 * Accepted syntax: non-negative integer literals, `+ - * /`, parentheses, whitespace, the Unicode
 * operators `×`, `÷`, `−`, unary minus (TinyZero evaluates it, so it is allowed unless
 * `allowUnaryMinus: false`), and a trailing `= <integer>` that must equal the target. Everything else
 * is malformed: decimals, `**`, `//`, `^`, `!`, implicit multiplication `2(3+4)`, leading zeros.
 */

import { Rational } from "./rational.js";

/** One Countdown task: reach `target` using each of `nums` exactly once. */
export interface CountdownTask {
  target: number;
  nums: readonly number[];
}

/** Options of the Countdown reward; every field has a default. */
export interface CountdownOptions {
  /** Score of a correct answer. Default 1.0. */
  correctScore?: number;
  /** Score of an answer that is present but wrong or malformed (TinyZero's `format_score`). Default 0.1. */
  formatScore?: number;
  /** Score when the response has no `<answer>...</answer>`. Default 0. */
  noAnswerScore?: number;
  /** Allow unary minus, e.g. `-(3 - 5) * 2`. Default true (TinyZero evaluates it). */
  allowUnaryMinus?: boolean;
  /** Answers longer than this many characters are malformed (guards the parser). Default 1000. */
  maxAnswerChars?: number;
}

/** Why a Countdown answer got its score. */
export type CountdownVerdict =
  | "correct"
  /** Well-formed, uses the right numbers, but the value is not the target (or divides by zero). */
  | "wrong_value"
  /** Well-formed, but numbers are missing, reused or not given. */
  | "wrong_numbers"
  /** Not an expression of the accepted syntax. */
  | "malformed"
  /** No `<answer>...</answer>` in the response. */
  | "no_answer";

/** The outcome of scoring one Countdown response. */
export interface CountdownResult {
  score: number;
  verdict: CountdownVerdict;
  /** The extracted answer text, when there was one. */
  answer?: string;
  /** The exact value of the expression (`"p/q"` or an integer), when it could be evaluated. */
  value?: string;
  /** A short human-readable reason for a non-correct verdict. */
  reason?: string;
}

/** Defaults of {@link CountdownOptions}. */
export const COUNTDOWN_DEFAULTS: Required<CountdownOptions> = {
  correctScore: 1.0,
  formatScore: 0.1,
  noAnswerScore: 0,
  allowUnaryMinus: true,
  maxAnswerChars: 1000,
};

/** The content of the last `<answer>...</answer>` (trimmed), or undefined when there is none. */
export function extractCountdownAnswer(response: string): string | undefined {
  const close = response.lastIndexOf("</answer>");
  if (close < 0) return undefined;
  const open = response.lastIndexOf("<answer>", close);
  if (open < 0) return undefined;
  return response.slice(open + "<answer>".length, close).trim();
}

/** Expression tree of a parsed Countdown answer. */
export type CountdownExpr =
  | { kind: "num"; value: bigint }
  | { kind: "neg"; arg: CountdownExpr }
  | { kind: "bin"; op: "+" | "-" | "*" | "/"; left: CountdownExpr; right: CountdownExpr };

/** A parse either succeeds with the tree and the literals it uses, or fails with a reason. */
export type CountdownParse =
  | { ok: true; expr: CountdownExpr; numbers: bigint[]; claimed?: bigint }
  | { ok: false; reason: string };

type Token = { t: "num"; v: bigint; text: string } | { t: "op"; v: string } | { t: "(" } | { t: ")" } | { t: "=" };

const MAX_DEPTH = 64;

function tokenize(text: string): Token[] | string {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c >= "0" && c <= "9") {
      let j = i;
      while (j < text.length && text[j]! >= "0" && text[j]! <= "9") j++;
      const lit = text.slice(i, j);
      if (j < text.length && (text[j] === "." || text[j] === ","))
        return `decimal or separated number near "${text.slice(i, j + 2)}"`;
      if (lit.length > 1 && lit[0] === "0") return `number with a leading zero: ${lit}`;
      if (lit.length > 30) return "number literal too long";
      tokens.push({ t: "num", v: BigInt(lit), text: lit });
      i = j;
    } else if ("+-*/".includes(c)) {
      tokens.push({ t: "op", v: c });
      i++;
    } else if (c === "×") {
      tokens.push({ t: "op", v: "*" });
      i++;
    } else if (c === "÷") {
      tokens.push({ t: "op", v: "/" });
      i++;
    } else if (c === "−") {
      tokens.push({ t: "op", v: "-" });
      i++;
    } else if (c === "(") {
      tokens.push({ t: "(" });
      i++;
    } else if (c === ")") {
      tokens.push({ t: ")" });
      i++;
    } else if (c === "=") {
      tokens.push({ t: "=" });
      i++;
    } else {
      return `unexpected character ${JSON.stringify(c)}`;
    }
  }
  return tokens;
}

/**
 * Parses a Countdown answer. A trailing `= N` is split off into `claimed`; the caller decides what a
 * claimed value that differs from the target means.
 */
export function parseCountdownExpression(text: string, allowUnaryMinus = true): CountdownParse {
  const toks = tokenize(text);
  if (typeof toks === "string") return { ok: false, reason: toks };
  let body = toks;
  let claimed: bigint | undefined;
  const eq = toks.findIndex((t) => t.t === "=");
  if (eq >= 0) {
    const rest = toks.slice(eq + 1);
    const only = rest[0];
    if (rest.length !== 1 || only === undefined || only.t !== "num") {
      return { ok: false, reason: "only a trailing '= <integer>' is allowed after the expression" };
    }
    claimed = only.v;
    body = toks.slice(0, eq);
  }
  if (body.length === 0) return { ok: false, reason: "empty expression" };

  const numbers: bigint[] = [];
  let pos = 0;
  const peek = (): Token | undefined => body[pos];
  const fail = (reason: string): never => {
    throw new SyntaxError(reason);
  };

  const parseExpr = (depth: number): CountdownExpr => {
    let left = parseTerm(depth);
    for (let t = peek(); t?.t === "op" && (t.v === "+" || t.v === "-"); t = peek()) {
      pos++;
      left = { kind: "bin", op: t.v, left, right: parseTerm(depth) };
    }
    return left;
  };
  const parseTerm = (depth: number): CountdownExpr => {
    let left = parseFactor(depth);
    for (let t = peek(); t?.t === "op" && (t.v === "*" || t.v === "/"); t = peek()) {
      pos++;
      left = { kind: "bin", op: t.v, left, right: parseFactor(depth) };
    }
    return left;
  };
  const parseFactor = (depth: number): CountdownExpr => {
    if (depth > MAX_DEPTH) fail("expression nested too deeply");
    const t = peek();
    if (t === undefined) return fail("expression ends where a number was expected");
    if (t.t === "op" && t.v === "-") {
      if (!allowUnaryMinus) fail("unary minus is not allowed");
      pos++;
      return { kind: "neg", arg: parseFactor(depth + 1) };
    }
    if (t.t === "num") {
      pos++;
      numbers.push(t.v);
      return { kind: "num", value: t.v };
    }
    if (t.t === "(") {
      pos++;
      const inner = parseExpr(depth + 1);
      if (peek()?.t !== ")") fail("missing ')'");
      pos++;
      return inner;
    }
    return fail(
      t.t === "op" ? `operator '${t.v}' where a number was expected` : `'${t.t}' where a number was expected`,
    );
  };

  try {
    const expr = parseExpr(0);
    if (pos < body.length) {
      const t = body[pos]!;
      const what = t.t === "num" ? `number ${t.text}` : t.t === "op" ? `'${t.v}'` : `'${t.t}'`;
      return { ok: false, reason: `unexpected ${what} (implicit multiplication or trailing tokens)` };
    }
    return claimed === undefined ? { ok: true, expr, numbers } : { ok: true, expr, numbers, claimed };
  } catch (e) {
    if (e instanceof SyntaxError) return { ok: false, reason: e.message };
    throw e;
  }
}

/** Exact value of a Countdown expression; undefined when it divides by zero. */
export function evaluateCountdownExpr(e: CountdownExpr): Rational | undefined {
  switch (e.kind) {
    case "num":
      return Rational.of(e.value);
    case "neg": {
      const v = evaluateCountdownExpr(e.arg);
      return v?.neg();
    }
    case "bin": {
      const a = evaluateCountdownExpr(e.left);
      const b = evaluateCountdownExpr(e.right);
      if (a === undefined || b === undefined) return undefined;
      switch (e.op) {
        case "+":
          return a.add(b);
        case "-":
          return a.sub(b);
        case "*":
          return a.mul(b);
        case "/":
          return a.div(b);
      }
    }
  }
}

/** True when `used` and `given` are the same multiset of integers. */
export function sameMultiset(used: readonly bigint[], given: readonly number[]): boolean {
  if (used.length !== given.length) return false;
  const a = [...used].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const b = given.map((n) => BigInt(n)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return a.every((v, i) => v === b[i]);
}

/** Scores one response against a Countdown task. Never throws on any response text. */
export function scoreCountdown(response: string, task: CountdownTask, options: CountdownOptions = {}): CountdownResult {
  const o = { ...COUNTDOWN_DEFAULTS, ...options };
  const answer = extractCountdownAnswer(response);
  if (answer === undefined) return { score: o.noAnswerScore, verdict: "no_answer", reason: "no <answer>...</answer>" };
  const wrong = (verdict: CountdownVerdict, reason: string, value?: Rational): CountdownResult => ({
    score: o.formatScore,
    verdict,
    answer,
    reason,
    ...(value !== undefined ? { value: value.toString() } : {}),
  });
  if (answer.length > o.maxAnswerChars) return wrong("malformed", `answer longer than ${o.maxAnswerChars} characters`);
  const parsed = parseCountdownExpression(answer, o.allowUnaryMinus);
  if (!parsed.ok) return wrong("malformed", parsed.reason);
  if (!sameMultiset(parsed.numbers, task.nums)) {
    return wrong("wrong_numbers", `uses [${parsed.numbers.join(", ")}], given [${task.nums.join(", ")}]`);
  }
  const value = evaluateCountdownExpr(parsed.expr);
  if (value === undefined) return wrong("wrong_value", "division by zero");
  const target = Rational.of(BigInt(task.target));
  if (parsed.claimed !== undefined && parsed.claimed !== target.num) {
    return wrong("wrong_value", `claims '= ${parsed.claimed}', target is ${task.target}`, value);
  }
  if (!value.equals(target)) return wrong("wrong_value", `evaluates to ${value}, target is ${task.target}`, value);
  return { score: o.correctScore, verdict: "correct", answer, value: value.toString() };
}
