/**
 * Structural parse of a normalised answer: the shapes a final answer takes (tuples, sets, intervals,
 * unions, matrices, relation chains, lists, text) are recognised here; the scalar leaves stay LaTeX
 * and are handed to the Compute Engine by compare.ts. Doing the outer structure ourselves keeps
 * intervals such as `[0,1)` (which the engine does not read) and lists such as `1, 2` exact.
 */

/** Relation operators of a chain, after normalisation. */
export type RelOp = "=" | "<" | ">" | "\\le" | "\\ge" | "\\ne" | "\\approx";

/** A parsed answer. */
export type AnswerNode =
  /** A scalar expression, LaTeX. */
  | { k: "expr"; latex: string }
  /** A word answer such as `\text{Evelyn}` or a choice letter. */
  | { k: "text"; text: string }
  /** `(a, b, c)` or `[a, b, c]`: ordered. A two-element `(a, b)` may also be an open interval. */
  | { k: "tuple"; items: AnswerNode[]; open: "(" | "[" }
  /** `a, b, c` without brackets: compared as a set, or in order against a tuple. */
  | { k: "list"; items: AnswerNode[] }
  /** `\{a, b\}`: unordered; `\emptyset` is the empty set. */
  | { k: "set"; items: AnswerNode[] }
  | { k: "interval"; lo: AnswerNode; hi: AnswerNode; loOpen: boolean; hiOpen: boolean }
  | { k: "union"; items: AnswerNode[] }
  | { k: "matrix"; rows: AnswerNode[][] }
  /** `a op b op c ...` */
  | { k: "rel"; terms: AnswerNode[]; ops: RelOp[] };

const MAX_DEPTH = 12;
const MAX_ITEMS = 64;

/** Depth change of the character at i, and how many characters the token spans. */
function bracketAt(s: string, i: number): { d: number; len: number } {
  const c = s[i];
  if (c === "\\") {
    const n = s[i + 1];
    if (n === "{") return { d: 1, len: 2 };
    if (n === "}") return { d: -1, len: 2 };
    if (s.startsWith("begin{", i + 1)) return { d: 1, len: 6 };
    if (s.startsWith("end{", i + 1)) return { d: -1, len: 4 };
    // a command name: skip it whole
    const m = /^\\[a-zA-Z]+/.exec(s.slice(i, i + 40));
    return { d: 0, len: m ? m[0].length : 2 };
  }
  if (c === "(" || c === "[" || c === "{") return { d: 1, len: 1 };
  if (c === ")" || c === "]" || c === "}") return { d: -1, len: 1 };
  return { d: 0, len: 1 };
}

/** Splits at top-level occurrences of the separators (tried in order at each position). */
export function splitTop(s: string, seps: readonly string[]): { parts: string[]; seps: string[] } {
  const parts: string[] = [];
  const found: string[] = [];
  let depth = 0;
  let last = 0;
  let i = 0;
  while (i < s.length) {
    if (depth === 0) {
      const sep = seps.find(
        (x) => s.startsWith(x, i) && !(/^\\[a-zA-Z]+$/.test(x) && /[a-zA-Z]/.test(s[i + x.length] ?? "")),
      );
      if (sep !== undefined) {
        parts.push(s.slice(last, i));
        found.push(sep);
        i += sep.length;
        last = i;
        continue;
      }
    }
    const b = bracketAt(s, i);
    depth = Math.max(0, depth + b.d);
    i += b.len;
  }
  parts.push(s.slice(last));
  return { parts, seps: found };
}

/** Index of the bracket closing the opener at 0 (any of `( [ {` closes with any of `) ] }`), or -1. */
function closingOf(s: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < s.length) {
    const b = bracketAt(s, i);
    depth += b.d;
    if (depth === 0 && b.d !== 0) return i + b.len - 1;
    i += b.len;
  }
  return -1;
}

const REL_SEPS: readonly string[] = ["\\le", "\\ge", "\\ne", "\\approx", "\\equiv", "=", "<", ">"];

/**
 * A recogniser of one answer shape: the node, `undefined` when the shape is there but a part does
 * not parse (the whole answer fails), or `null` when `s` does not have this shape.
 */
type Recogniser = (s: string, depth: number) => AnswerNode | undefined | null;

/** Every part of `parts` parsed, or undefined when one does not parse. */
function parseAll(parts: readonly string[], depth: number): AnswerNode[] | undefined {
  const items = parts.map((p) => parseAnswer(p, depth + 1));
  return items.some((x) => x === undefined) ? undefined : (items as AnswerNode[]);
}

const emptySet: Recogniser = (s) => (/^\\emptyset$|^\\\{\s*\\\}$/.test(s) ? { k: "set", items: [] } : null);

/** A plain brace group around everything: "{1,3}" -> "1,3". */
const braceGroup: Recogniser = (s, depth) =>
  s.startsWith("{") && closingOf(s, 0) === s.length - 1 ? parseAnswer(s.slice(1, -1), depth + 1) : null;

/** A top-level list "a, b, c" (before relations, so "x = 1, y = 2" is a list of two equations). */
const topLevelList: Recogniser = (s, depth) => {
  const commas = splitTop(s, [",", ";"]);
  if (commas.parts.length <= 1) return null;
  const parts = commas.parts.map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length > MAX_ITEMS) return undefined;
  const nodes = parseAll(parts, depth);
  if (!nodes) return undefined;
  // "x = 1, 2" means x takes the values 1 and 2
  const first = nodes[0]!;
  if (
    first.k === "rel" &&
    first.ops.length === 1 &&
    first.ops[0] === "=" &&
    nodes.slice(1).every((n) => n.k !== "rel")
  ) {
    return {
      k: "rel",
      terms: [first.terms[0]!, { k: "list", items: [first.terms[1]!, ...nodes.slice(1)] }],
      ops: ["="],
    };
  }
  return nodes.length === 1 ? nodes[0] : { k: "list", items: nodes };
};

/** Unions of intervals or sets. */
const union: Recogniser = (s, depth) => {
  const unions = splitTop(s, ["\\cup"]);
  if (unions.parts.length <= 1) return null;
  const items = parseAll(unions.parts, depth);
  return items && { k: "union", items };
};

/** Relation chains `a < x \le b`, `x = y = 3` (a congruence stays one expression). */
const relationChain: Recogniser = (s, depth) => {
  const rel = splitTop(s, REL_SEPS);
  if (rel.parts.length <= 1) return null;
  if (rel.seps.includes("\\equiv")) return { k: "expr", latex: s };
  const terms = parseAll(rel.parts, depth);
  return terms && { k: "rel", terms, ops: rel.seps as RelOp[] };
};

/** `\{ ... \}`. */
const braceSet: Recogniser = (s, depth) => {
  if (!(s.startsWith("\\{") && closingOf(s, 0) === s.length - 1 && s.endsWith("\\}"))) return null;
  const inner = s.slice(2, -2).trim();
  if (inner.length === 0) return { k: "set", items: [] };
  const node = parseAnswer(inner, depth + 1);
  if (!node) return undefined;
  return { k: "set", items: node.k === "list" ? node.items : [node] };
};

/** `( ... )`, `[ ... ]`, and intervals with mixed brackets. */
const bracketed: Recogniser = (s, depth) => {
  if (!((s[0] === "(" || s[0] === "[") && (s.endsWith(")") || s.endsWith("]")) && closingOf(s, 0) === s.length - 1)) {
    return null;
  }
  const open = s[0] as "(" | "[";
  const close = s[s.length - 1];
  const inner = s.slice(1, -1);
  const parts = splitTop(inner, [","]).parts.map((p) => p.trim());
  if (parts.length === 1) {
    if (open === "(" && close === ")") return parseAnswer(inner, depth + 1);
    if (/^\s*\\begin\{/.test(inner)) return parseAnswer(inner, depth + 1); // [\begin{array}...\end{array}]
    return { k: "expr", latex: s }; // "[x]": let the engine decide
  }
  if (parts.some((p) => p.length === 0) || parts.length > MAX_ITEMS) return undefined;
  const nodes = parseAll(parts, depth);
  if (!nodes) return undefined;
  if (nodes.length === 2 && !(open === "(" && close === ")")) {
    return { k: "interval", lo: nodes[0]!, hi: nodes[1]!, loOpen: open === "(", hiOpen: close === ")" };
  }
  return { k: "tuple", items: nodes, open };
};

const MATRIX =
  /^\\begin\{(pmatrix|bmatrix|Bmatrix|vmatrix|Vmatrix|smallmatrix|matrix|array)\}(?:\{[lcr|\s]*\})?([\s\S]*)\\end\{\1\}$/;

/** Matrices: rows split at `\\`, cells at `&`, every row as wide as the first. */
const matrix: Recogniser = (s, depth) => {
  const mat = MATRIX.exec(s);
  if (!mat) return null;
  const rows = splitTop(mat[2]!, ["\\\\"])
    .parts.map((r) => r.trim())
    .filter((r) => r.length > 0);
  if (rows.length === 0 || rows.length > MAX_ITEMS) return undefined;
  const cells = rows.map((r) => splitTop(r, ["&"]).parts.map((c) => parseAnswer(c, depth + 1)));
  if (cells.some((r) => r.some((c) => c === undefined))) return undefined;
  const width = cells[0]!.length;
  if (cells.some((r) => r.length !== width)) return undefined;
  return { k: "matrix", rows: cells as AnswerNode[][] };
};

/** `a ± b` -> the list `a + b, a - b` (`± b` -> `b, -b`). */
const plusMinus: Recogniser = (s) => {
  const pm = splitTop(s, ["\\pm", "\\mp"]);
  if (pm.parts.length !== 2) return null;
  const [a, b] = [pm.parts[0]!.trim(), pm.parts[1]!.trim()];
  const [plus, minus] = a.length === 0 ? [`${b}`, `-(${b})`] : [`${a}+(${b})`, `${a}-(${b})`];
  return {
    k: "list",
    items: [
      { k: "expr", latex: plus },
      { k: "expr", latex: minus },
    ],
  };
};

/** Word answers: `\text{...}`, or three or more letters and words. */
const wordAnswer: Recogniser = (s) => {
  const text = /^\\text\{([^{}]*)\}$/.exec(s);
  if (text) return { k: "text", text: text[1]!.trim() };
  return /^[A-Za-z]{3,}(?: [A-Za-z]+)*$/.test(s) ? { k: "text", text: s } : null;
};

/** The shapes, in the order they are tried: the first that matches decides. */
const RECOGNISERS: readonly Recogniser[] = [
  emptySet,
  braceGroup,
  topLevelList,
  union,
  relationChain,
  braceSet,
  bracketed,
  matrix,
  plusMinus,
  wordAnswer,
];

/** Parses a normalised answer; undefined when it is empty or nested too deeply. */
export function parseAnswer(latex: string, depth = 0): AnswerNode | undefined {
  if (latex.trim().length === 0 || depth > MAX_DEPTH) return undefined;
  // "x \in [a, b]" -> "[a, b]"
  const s = latex.trim().replace(/^[a-zA-Z](?:_\{?\w+\}?)?\s*\\in\s*/, "");
  for (const recognise of RECOGNISERS) {
    const node = recognise(s, depth);
    if (node !== null) return node;
  }
  return { k: "expr", latex: s };
}
