/**
 * String-level normalisation of an extracted answer, as the community graders do (Hendrycks MATH's
 * `strip_string`, Qwen2.5-Math's `strip_answer_string`, Math-Verify's `normalize_latex`): sizing
 * commands (`\left`, `\right`, `\big`), fraction variants (`\dfrac`, `\tfrac`, `\cfrac`), text
 * wrappers (`\text{}`, `\mathrm{}`, `\textbf{}`, `\mbox{}`), trailing units, degrees, percent signs,
 * dollar signs, thousands separators (`1,000`, `1{,}000`, `1,\!000`), choice letters (`(C)`),
 * `x =` / `x \in` prefixes are handled by the structural parser, and spacing.
 *
 * The output is LaTeX that the structural parser (structure.ts) and the Compute Engine read. Every
 * rewrite is a linear scan or a regex without nested quantifiers.
 */

/** Result of {@link normalizeAnswer}. */
export interface Normalized {
  /** The normalised LaTeX. */
  latex: string;
  /** A percent sign (`%`, `\%`, "percent", "pct") was removed. */
  percent: boolean;
}

// LaTeX commands that may appear written with a doubled backslash (`\\frac`), from outputs that were
// JSON-escaped twice. Only these are repaired, so a row break `\\` before a variable stays intact.
const KNOWN_COMMANDS = new Set(
  (
    "frac dfrac tfrac cfrac sqrt left right pi cdot times div le leq ge geq lt gt ne neq approx pm mp " +
    "infty text textbf mathrm mathbf boxed begin end circ sin cos tan cot sec csc log ln exp in cup cap " +
    "emptyset varnothing alpha beta gamma delta theta lambda mu sigma phi omega angle degree dots ldots cdots " +
    "quad qquad mbox operatorname binom dbinom tbinom vec overline hat bar"
  ).split(" "),
);

/** `\\frac` -> `\frac` for known command names; a `\\` row break stays as it is. */
export function fixDoubledBackslashes(s: string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    if (s[i] === "\\" && s[i + 1] === "\\") {
      const m = /^[a-zA-Z]+/.exec(s.slice(i + 2, i + 20));
      if (m && KNOWN_COMMANDS.has(m[0])) {
        out += "\\";
        i += 2;
        continue;
      }
      out += "\\\\";
      i += 2;
      continue;
    }
    if (s[i] === "\\") {
      // copy a command (or escaped char) whole so its backslash is not re-read
      out += s[i]! + (s[i + 1] ?? "");
      i += 2;
      continue;
    }
    out += s[i];
    i++;
  }
  return out;
}

/** Units dropped when they trail a value (lowercase, singular; plurals are derived). */
const UNITS = new Set(
  (
    "unit meter metre m cm mm km inch in foot feet ft yard yd mile mi mph kmh kph second sec s minute min " +
    "hour hr h day week month year yr gram g kg mg pound lb ounce oz liter litre l ml gallon gal cup " +
    "degree deg radian rad dollar cent euro point pt square sq cubic cu " +
    "student person people child children apple coin marble book page ways way time times dozen " +
    "mile hectare acre ohm volt watt newton joule meal tile toy digit edge"
  ).split(" "),
);

function isUnitPhrase(words: string): boolean {
  const ws = words
    .toLowerCase()
    .replace(/[.\s]+$/, "")
    .split(/[\s\-.]+/)
    .filter((w) => w.length > 0);
  if (ws.length === 0 || ws.length > 3) return false;
  return ws.every(
    (w) => UNITS.has(w) || UNITS.has(w.replace(/(es|s)$/, "")) || (w.endsWith("s") && UNITS.has(w.slice(0, -1))),
  );
}

const TEXT_CMD =
  /\\(?:text|textbf|textit|textrm|textsf|texttt|textnormal|mathrm|mathbf|mathit|mathsf|mathtt|mbox|operatorname|hbox)\s*\{/g;

/** Replaces `\text{...}`-like wrappers: "and"/"or" become commas; trailing unit text is dropped; others unwrap. */
function unwrapText(s: string): string {
  let out = s;
  for (let guard = 0; guard < 50; guard++) {
    TEXT_CMD.lastIndex = 0;
    const m = TEXT_CMD.exec(out);
    if (!m) break;
    const open = m.index + m[0].length - 1;
    // find matching brace (no escapes of interest inside \text)
    let depth = 0;
    let close = -1;
    for (let i = open; i < out.length; i++) {
      if (out[i] === "{") depth++;
      else if (out[i] === "}") {
        depth--;
        if (depth === 0) {
          close = i;
          break;
        }
      }
    }
    if (close < 0) {
      out = out.slice(0, m.index) + out.slice(open + 1);
      continue;
    }
    const inner = out.slice(open + 1, close);
    const before = out.slice(0, m.index);
    let after = out.slice(close + 1);
    let replacement: string;
    const innerTrim = inner.trim();
    if (/^(?:,?\s*(?:and|or)|,)$/i.test(innerTrim)) {
      replacement = ", ";
    } else if (
      before.trim().length > 0 &&
      /^[\s^{}\d]*$/.test(after.replace(/\^\s*\{?\s*\d\s*\}?/, "")) &&
      isUnitPhrase(innerTrim)
    ) {
      // trailing unit, possibly squared: "15\mbox{ cm}^2"
      replacement = "";
      after = after.replace(/^\s*\^\s*\{?\s*\d\s*\}?/, "");
    } else if (/^[a-zA-Z]{1,2}$/.test(innerTrim) || /^\(?[A-Za-z]\)?$/.test(innerTrim)) {
      replacement = ` ${innerTrim} `; // \mathrm{i}, \text{(C)}
    } else if (/^[a-zA-Z][a-zA-Z\s'-]*$/.test(innerTrim)) {
      // a word answer: keep it as one token so that it is compared as text
      replacement = `\\text{${innerTrim.replace(/\s+/g, " ")}}`;
      out = before + "\u0000" + replacement.slice(1) + after; // mark as processed
      continue;
    } else {
      replacement = ` ${inner} `;
    }
    out = before + replacement + after;
  }
  return out.replaceAll("\u0000", "\\");
}

/** One named rewrite of the answer string; `marksPercent`: a change means a percent sign was removed. */
interface RewriteStep {
  name: string;
  apply: (s: string) => string;
  marksPercent?: boolean;
}

/** The rewrites, in the order they run (each relies on those before it). */
const REWRITE_STEPS: readonly RewriteStep[] = [
  {
    name: "whitespace, display-style commands and spacing macros",
    apply: (s) =>
      s
        .replace(/[\n\r\t\f]+/g, " ")
        .replace(/\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)(?![a-zA-Z])/g, "")
        .replace(
          /(?<!\\)((?:\\\\)*)(\\[!,;:>]\s*|\\q?quad(?![a-zA-Z])|\\enspace(?![a-zA-Z])|\\thinspace(?![a-zA-Z])|\\ |~)/g,
          (_x, even: string, cmd: string) => even + (cmd.startsWith("\\!") ? "" : " "),
        ),
  },
  {
    // 1{,}000 and 1,\!000 (\! already removed); "1, 000" is NOT joined (it is a list)
    name: "braced thousands separators",
    apply: (s) => s.replace(/(\d)\s*\{\s*,\s*\}\s*(?=\d{3}(?!\d))/g, "$1"),
  },
  {
    name: "sizing commands and bracket macros",
    apply: (s) =>
      s
        .replace(/\\(?:left|right)\s*\./g, "")
        .replace(
          /\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg|middle)\s*(?=[()[\]|]|\\[{}|]|\\[lr]?(?:vert|Vert|angle|brace|brack|floor|ceil))/g,
          "",
        )
        .replace(/\\lbrack(?![a-zA-Z])/g, "[")
        .replace(/\\rbrack(?![a-zA-Z])/g, "]")
        .replace(/\\lbrace(?![a-zA-Z])/g, "\\{")
        .replace(/\\rbrace(?![a-zA-Z])/g, "\\}")
        .replace(/\\langle(?![a-zA-Z])/g, "(")
        .replace(/\\rangle(?![a-zA-Z])/g, ")"),
  },
  {
    name: "fraction and binomial variants",
    apply: (s) => s.replace(/\\[dtc]frac(?![a-zA-Z])/g, "\\frac").replace(/\\[dt]binom(?![a-zA-Z])/g, "\\binom"),
  },
  {
    name: "dollars, currencies, quotes",
    apply: (s) =>
      s
        .replace(/\\\$/g, " ")
        .replace(/\$/g, " ")
        .replace(/[€£¥₹₽₩"]/g, " ")
        .replace(/\\(?:euro|pounds)(?![a-zA-Z])/g, " "),
  },
  {
    name: "percent",
    marksPercent: true,
    apply: (s) =>
      s
        .replace(/\\text\s*\{\s*(?:percent|percentage|pct)\s*\}/gi, " ")
        .replace(/\\%|%/g, " ")
        .replace(/\b(?:percentage|percent|pct)\b/gi, " "),
  },
  {
    name: "degrees",
    apply: (s) =>
      s
        .replace(
          /\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\circ(?![a-zA-Z])|°|\\degree(?![a-zA-Z])|\^\s*\{\s*\\text\s*\{\s*o\s*\}\s*\}/g,
          " ",
        )
        .replace(/\\text\s*\{\s*degrees?\s*\}/gi, " "),
  },
  // after percent, so \text{ percent} is already gone
  { name: "text wrappers", apply: unwrapText },
  {
    name: "unicode operators and spelled relations",
    apply: (s) =>
      s
        .replace(/−/g, "-")
        .replace(/×/g, "\\times ")
        .replace(/÷/g, "\\div ")
        .replace(/·/g, "\\cdot ")
        .replace(/≤/g, "\\le ")
        .replace(/≥/g, "\\ge ")
        .replace(/≠/g, "\\ne ")
        .replace(/∞/g, "\\infty ")
        .replace(/π/g, "\\pi ")
        .replace(/\\(?:leqslant|leq)(?![a-zA-Z])/g, "\\le")
        .replace(/\\(?:geqslant|geq)(?![a-zA-Z])/g, "\\ge")
        .replace(/\\neq(?![a-zA-Z])/g, "\\ne")
        .replace(/<=/g, "\\le ")
        .replace(/>=/g, "\\ge ")
        .replace(/!=/g, "\\ne ")
        .replace(/\\lt(?![a-zA-Z])/g, "<")
        .replace(/\\gt(?![a-zA-Z])/g, ">")
        .replace(/\\varnothing(?![a-zA-Z])/g, "\\emptyset")
        .replace(/\\(?:dots[bc]?|ldots|cdots)(?![a-zA-Z])/g, "\\ldots")
        .replace(/\binfinity\b/gi, "\\infty")
        .replace(/(?<![\\a-zA-Z])inf\b/g, "\\infty"),
  },
  {
    // "5 cm"; "28 percent" is handled above
    name: "trailing units written without \\text",
    apply: (s) =>
      s.replace(
        /(\d|\})\s*([a-zA-Z][a-zA-Z.\s]{0,30}?)\s*(?:\^\s*\{?\s*[23]\s*\}?)?$/,
        (all, lead: string, words: string) => (isUnitPhrase(words) && words.trim().length > 1 ? lead : all),
      ),
  },
  { name: '"x and y" / "x or y" between values as a list', apply: (s) => s.replace(/,?\s*\b(?:and|or)\b\s*/g, ", ") },
  {
    // 1,000,000 / 1 000 when the whole answer is one number (inside a tuple or a set a comma
    // separates items, so "(2,500)" stays a pair)
    name: "thousands separators of a lone number",
    apply: (s) => {
      const t = s.trim();
      return /^-?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$/.test(t) || /^-?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$/.test(t)
        ? t.replace(/[, ]/g, "")
        : t;
    },
  },
  { name: "leading decimal point: .5 -> 0.5", apply: (s) => s.replace(/(?<![\d}])\.(\d)/g, "0.$1") },
  {
    name: "brace-less arguments: \\frac12 -> \\frac{1}{2}, \\sqrt3 -> \\sqrt{3}",
    apply: (s) =>
      s
        .replace(/\\frac\s*(\d)\s*(\d)/g, "\\frac{$1}{$2}")
        .replace(/\\frac\s*(\d)\s*\{/g, "\\frac{$1}{")
        .replace(/\\frac\s*(\{[^{}]*\})\s*(\d)/g, "\\frac$1{$2}")
        .replace(/\\sqrt\s*(\d)/g, "\\sqrt{$1}"),
  },
  {
    // 15\frac{39}{40} is 15 + 39/40 (a product would be written with \cdot)
    name: "mixed numbers",
    apply: (s) => s.replace(/(?<![\\\w.}^_])(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}/g, "($1+\\frac{$2}{$3})"),
  },
  {
    name: "spaces collapsed, leading and trailing punctuation",
    apply: (s) =>
      s
        .replace(/\s+/g, " ")
        .trim()
        .replace(/^[,;:]\s*|\s*[,;:.]+$/g, "")
        .trim()
        .replace(/^\.\s*/, "")
        .trim(),
  },
  {
    name: 'choice letters: "(C)" -> "C"',
    apply: (s) => {
      const choice = /^\(\s*([A-Ea-e])\s*\)$/.exec(s);
      return choice ? choice[1]!.toUpperCase() : s;
    },
  },
];

/** Normalises an extracted answer: {@link REWRITE_STEPS} in order; see the module documentation. */
export function normalizeAnswer(raw: string): Normalized {
  let s = fixDoubledBackslashes(raw);
  let percent = false;
  for (const step of REWRITE_STEPS) {
    const out = step.apply(s);
    if (step.marksPercent && out !== s) percent = true;
    s = out;
  }
  return { latex: s, percent };
}
