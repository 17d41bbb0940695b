/**
 * Final-answer extraction from a model response (string level; no parsing of the maths).
 *
 * Sources, in tiers like Hugging Face Math-Verify's extraction priorities; within a tier the rightmost
 * candidate comes first, and the verifier takes the first candidate of the first tier that parses:
 *
 * 0. the last `\boxed{...}` / `\fbox{...}` (nested braces; adjacent boxes such as
 *    `\boxed{-2} and \boxed{1}` are joined into a list), and, with `finalAnswer`,
 *    "final answer is X. I hope" (the Minerva / Qwen few-shot phrasing);
 * 1. with `finalAnswer`: "final answer ... is X";
 * 2. with `finalAnswer`: "answer: X" or "answer ... X" (X within 50 characters of the word);
 * 3. with `lastMath`: the last `$...$`, `$$...$$`, `\(...\)`, `\[...\]` (inline math may not span lines);
 *    with `plainNumbers`: the last plain number or arithmetic expression (`1,000.5`, `2/3`, `28%`).
 *
 * X is a math environment, or with `plainNumbers` also a plain number or expression. Every scan is
 * linear or bounded (lazy quantifiers have fixed upper bounds), so hostile text cannot make it slow.
 */

/** Which parts of a response may hold the final answer. */
export interface ExtractOptions {
  /** Look for `\boxed{}` / `\fbox{}`. Default true. */
  boxed?: boolean;
  /** Accept "final answer is X" and "answer: X" phrasings. Default false. */
  finalAnswer?: boolean;
  /** Fall back to the last math environment (`$...$`, `\(...\)`, `\[...\]`). Default false. */
  lastMath?: boolean;
  /** Accept plain numbers and arithmetic expressions outside math (`1,000.99`, `2/3`). Default false. */
  plainNumbers?: boolean;
}

/** One possible final answer. */
export interface Candidate {
  /** The answer text (LaTeX or a plain number), without delimiters. */
  text: string;
  /** Where it came from. */
  source: "boxed" | "final_answer" | "answer" | "math" | "number";
  /** 0 (most trusted) .. 3; the verifier stops at the first tier with a parseable candidate. */
  tier: number;
  /** Start and end offsets in the response (for ordering). */
  start: number;
  end: number;
  /** A percent sign followed the number or environment (`28 %`, `$28$ percent`). */
  percent?: boolean;
}

const BOX_COMMANDS = ["\\boxed", "\\fbox"];

/** Index of the `}` closing the `{` at `open`, or -1. */
export function matchBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "\\") {
      i++; // skip escaped char such as \{ or \}
      continue;
    }
    if (c === "{") depth++;
    else if (c === "}") {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

interface Span {
  content: string;
  start: number;
  end: number; // exclusive
}

/** All `\boxed{...}` / `\fbox{...}` spans, left to right; an unclosed last box runs to the end. */
export function findBoxes(text: string): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < text.length) {
    let best = -1;
    let cmdLen = 0;
    for (const cmd of BOX_COMMANDS) {
      const k = text.indexOf(cmd, i);
      if (k >= 0 && (best < 0 || k < best)) {
        best = k;
        cmdLen = cmd.length;
      }
    }
    if (best < 0) break;
    let j = best + cmdLen;
    while (j < text.length && (text[j] === " " || text[j] === "\t")) j++;
    if (text[j] !== "{") {
      i = best + cmdLen;
      continue;
    }
    const close = matchBrace(text, j);
    if (close < 0) {
      spans.push({ content: text.slice(j + 1), start: best, end: text.length });
      break;
    }
    spans.push({ content: text.slice(j + 1, close), start: best, end: close + 1 });
    i = close + 1;
  }
  return spans;
}

const BOX_JOINER = /^(?:\s|,|;|\$|\\[()[\]]|\\quad|\\qquad|\\text\{\s*(?:and|or)\s*\}|\\,|\\;|\band\b|\bor\b)*$/;

/**
 * The last box, joined with the boxes right before it when only separators stand between them
 * (`\boxed{-2} and \boxed{1}`, `$\boxed{1}\boxed{2}$`). Identical neighbours are kept once.
 */
export function lastBoxed(text: string): Span | undefined {
  const boxes = findBoxes(text);
  const last = boxes[boxes.length - 1];
  if (!last) return undefined;
  const parts = [last.content.trim()];
  let start = last.start;
  for (let k = boxes.length - 2; k >= 0; k--) {
    const b = boxes[k]!;
    const between = text.slice(b.end, start);
    if (between.length > 80 || !BOX_JOINER.test(between)) break;
    const c = b.content.trim();
    if (c !== parts[0]) parts.unshift(c);
    start = b.start;
  }
  return { content: parts.join(", "), start, end: last.end };
}

// Math environments. Inline ones may not contain a newline (as in Math-Verify), display ones may.
const MATH_ENV = new RegExp(
  [
    String.raw`(?<!\\)\$\$((?:[^$]|\$(?!\$)){1,4000}?)\$\$`,
    String.raw`(?<!\\)\\\[((?:[^\\]|\\(?!\])){1,4000}?)\\\]`,
    String.raw`(?<![\\\d$])\$((?:\\\$|[^\n$]){1,2000}?)(?<!\\)\$`,
    String.raw`(?<!\\)\\\(((?:[^\\\n]|\\(?!\))){1,2000}?)\\\)`,
  ].join("|"),
  "g",
);
const PERCENT_AFTER = /^\s*(?:\\?%|percentage\b|percent\b|pct\b)/i;

function mathEnvs(text: string): Array<Span & { percent: boolean }> {
  const out: Array<Span & { percent: boolean }> = [];
  for (const m of text.matchAll(MATH_ENV)) {
    const content = m[1] ?? m[2] ?? m[3] ?? m[4] ?? "";
    const start = m.index ?? 0;
    const end = start + m[0].length;
    const pm = PERCENT_AFTER.exec(text.slice(end, end + 20));
    out.push({ content, start, end: pm ? end + pm[0].length : end, percent: pm !== null });
  }
  return out;
}

/** A math environment starting at `pos` (after optional spaces), or undefined. */
function mathEnvAt(text: string, pos: number): (Span & { percent: boolean }) | undefined {
  const slice = text.slice(pos, pos + 4100);
  const lead = /^\s*/.exec(slice)![0].length;
  const re = new RegExp(MATH_ENV.source, "y");
  re.lastIndex = lead;
  const m = re.exec(slice);
  if (!m) return undefined;
  const content = m[1] ?? m[2] ?? m[3] ?? m[4] ?? "";
  const end = lead + m[0].length;
  const pm = PERCENT_AFTER.exec(slice.slice(end, end + 20));
  return { content, start: pos + lead, end: pos + (pm ? end + pm[0].length : end), percent: pm !== null };
}

// Plain numbers: "1,234.5" / "1 234" (groups of three), "123,45" (decimal comma), ".5", "12", with an
// optional percent. They must start the text or follow whitespace, '=' or a currency sign, so that
// "AZYUK2A" yields nothing.
const NUMBER_BODY = String.raw`-?[1-9]\d{0,2}(?:[ ,]\d{3})+(?:\.\d+)?(?![\d])|-?\d+(?:[.,]\d+)?|\.\d+`;
const CURRENCY = "$€£¥₹₽₩";
const PLAIN_NUMBER = new RegExp(
  String.raw`(?:^|(?<=[\s=(]))(?:\*\*)?[${CURRENCY}]?(${NUMBER_BODY})(\s*(?:%|percentage\b|percent\b|pct\b))?`,
  "gi",
);
// Arithmetic expressions such as "2/3" or "(1/2) * (4/3)": a run of digits, operators, parentheses and
// spaces after whitespace or '='. A plain greedy run (no nested quantifiers) keeps the scan linear;
// the run is trimmed and must contain an operator between digits.
const EXPR_RUN = /(?<=^|[\s=])[-(]?[\d(][\d.\s+\-*×/^()÷]*/g;

function trimExpr(run: string): string | undefined {
  let t = run.replace(/[\s.+\-*×/^÷]+$/, "");
  // drop unbalanced trailing ')' and leading '('
  let depth = 0;
  let cut = t.length;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === "(") depth++;
    else if (t[i] === ")") {
      depth--;
      if (depth < 0) {
        cut = i;
        break;
      }
    }
  }
  t = t.slice(0, cut).replace(/[\s.+\-*×/^÷]+$/, "");
  if (depth > 0 && cut === t.length) {
    while (t.startsWith("(") && depth > 0) {
      t = t.slice(1);
      depth--;
    }
  }
  if (!/\d\s*[)]*\s*[+\-*×/^÷]\s*[(]*\s*-?\d/.test(t)) return undefined;
  if (/\d\s+\d/.test(t)) return undefined; // "12 34" is not an expression
  return t.trim();
}

function plainNumbers(text: string): Candidate[] {
  const out: Candidate[] = [];
  for (const m of text.matchAll(PLAIN_NUMBER)) {
    const start = m.index ?? 0;
    const end = start + m[0].length;
    out.push({ text: m[1]!, source: "number", tier: 3, start, end, ...(m[2] ? { percent: true } : {}) });
  }
  for (const m of text.matchAll(EXPR_RUN)) {
    const start = m.index ?? 0;
    const expr = trimExpr(m[0]);
    if (expr === undefined) continue;
    out.push({ text: expr, source: "number", tier: 3, start, end: start + m[0].trimEnd().length });
  }
  return out;
}

function plainNumberAt(text: string, pos: number): Candidate | undefined {
  const slice = text.slice(pos, pos + 600);
  const lead = /^\s*/.exec(slice)![0].length;
  const rest = slice.slice(lead);
  const candidates = plainNumbers(rest).filter((c) => c.start === 0);
  // prefer the longest (an expression over its first number)
  candidates.sort((a, b) => b.end - a.end);
  const c = candidates[0];
  if (!c) return undefined;
  return { ...c, start: pos + lead, end: pos + lead + c.end };
}

const BARE_FRAC = /-?\\[dt]?frac\{-?\d+(?:[.,]\d+)?\}\{-?\d+(?:[.,]\d+)?\}/g;

const FINAL_ANSWER_IS = /final answer.{0,100}?\s+is:?\s*/gis;
const ANSWER_COLON = /answer\s*:\s*/gi;
const ANSWER_WORD = /answer\b/gi;

function anchored(
  text: string,
  anchor: RegExp,
  tier: number,
  source: Candidate["source"],
  o: Required<ExtractOptions>,
  requireHope = false,
  maxGap = 0,
): Candidate[] {
  const out: Candidate[] = [];
  // Only the last few occurrences matter (candidates are tried right to left); this bounds the work.
  const matches = [...text.matchAll(anchor)].slice(-16);
  for (const m of matches) {
    const after = (m.index ?? 0) + m[0].length;
    // Allow up to maxGap characters of prose between the anchor and the answer ("Answer: the value is 5").
    for (let gap = 0; gap <= maxGap; gap++) {
      const pos = after + gap;
      if (pos > text.length) break;
      if (gap > 0 && !/\s/.test(text[pos - 1] ?? "")) continue;
      const env = text[pos] === "$" || text[pos] === "\\" || gap === 0 ? mathEnvAt(text, pos) : undefined;
      let cand: Candidate | undefined;
      if (env)
        cand = {
          text: env.content,
          source,
          tier,
          start: env.start,
          end: env.end,
          ...(env.percent ? { percent: true } : {}),
        };
      else if (o.plainNumbers) {
        const n = plainNumberAt(text, pos);
        if (n && (gap === 0 || text[pos] !== " ")) cand = { ...n, source, tier };
      }
      if (!cand) continue;
      if (requireHope && !/^\.?\s?I hope/.test(text.slice(cand.end, cand.end + 10))) break;
      out.push(cand);
      break;
    }
  }
  return out;
}

/** Defaults of {@link ExtractOptions}: boxed only. */
export const EXTRACT_DEFAULTS: Required<ExtractOptions> = {
  boxed: true,
  finalAnswer: false,
  lastMath: false,
  plainNumbers: false,
};

/**
 * All answer candidates of a response, most trusted first: ordered by tier, and within a tier from
 * right to left.
 */
export function extractCandidates(response: string, options: ExtractOptions = {}): Candidate[] {
  const o = { ...EXTRACT_DEFAULTS, ...options };
  const out: Candidate[] = [];
  if (o.boxed) {
    const b = lastBoxed(response);
    if (b) out.push({ text: b.content, source: "boxed", tier: 0, start: b.start, end: b.end });
  }
  if (o.finalAnswer) {
    out.push(...anchored(response, FINAL_ANSWER_IS, 0, "final_answer", o, true));
    out.push(...anchored(response, FINAL_ANSWER_IS, 1, "final_answer", o));
    out.push(...anchored(response, ANSWER_COLON, 2, "answer", o, false, 50));
    out.push(...anchored(response, ANSWER_WORD, 2, "answer", o, false, 50));
  }
  if (o.lastMath) {
    for (const env of mathEnvs(response)) {
      out.push({
        text: env.content,
        source: "math",
        tier: 3,
        start: env.start,
        end: env.end,
        ...(env.percent ? { percent: true } : {}),
      });
    }
    // a bare \frac{a}{b} of plain numbers outside math
    for (const m of response.matchAll(BARE_FRAC)) {
      const start = m.index ?? 0;
      out.push({ text: m[0], source: "math", tier: 3, start, end: start + m[0].length });
    }
  }
  if (o.plainNumbers) out.push(...plainNumbers(response));
  out.sort((a, b) => a.tier - b.tier || b.end - a.end || a.start - b.start);
  // drop exact duplicates
  const seen = new Set<string>();
  return out.filter((c) => {
    const k = `${c.tier}:${c.start}:${c.end}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Strips `$...$`, `\(...\)`, `\[...\]` or `$$...$$` around a whole string. */
export function stripMathDelimiters(s: string): string {
  let t = s.trim();
  for (;;) {
    const m =
      /^\$\$([\s\S]*)\$\$$/.exec(t) ??
      /^\$([\s\S]*)\$$/.exec(t) ??
      /^\\\(([\s\S]*)\\\)$/.exec(t) ??
      /^\\\[([\s\S]*)\\\]$/.exec(t);
    if (!m || m[1]!.includes("$")) return t;
    t = m[1]!.trim();
  }
}
