// A byte-level BPE trainer in the layout of the Qwen2.5 releases (vocab.json + merges.txt +
// tokenizer_config.json), so the project's Qwen2 tokenizer loads the result. Texts are split with
// Qwen2's pre-tokenizer regex (digits stay single, so numbers never merge) and counted as words;
// the most frequent adjacent pair is merged until `merges` merges exist (ties: first seen pair).

/** GPT-2's bytes_to_unicode: the printable stand-in of every byte. */
export function byteSymbols() {
  const printable = [];
  for (let b = 33; b <= 126; b++) printable.push(b);
  for (let b = 161; b <= 172; b++) printable.push(b);
  for (let b = 174; b <= 255; b++) printable.push(b);
  const out = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable.includes(b) ? b : 256 + extra++);
  return out;
}

// Qwen2's split regex (transformers' Qwen2Converter), with (?i:...) spelled out for JavaScript.
const SPLIT =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

/** Trains `merges` byte-level BPE merges on `texts`; returns the vocabulary (byte symbols first) and merges. */
export function trainBpe(texts, merges) {
  const symbols = byteSymbols();
  const encoder = new TextEncoder();
  const counts = new Map();
  for (const text of texts) {
    for (const word of text.normalize("NFC").match(SPLIT) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const words = [...counts].map(([w, n]) => ({ parts: [...encoder.encode(w)].map((b) => symbols[b]), n }));
  const vocab = [...symbols];
  const known = new Set(vocab);
  const rules = [];
  for (let m = 0; m < merges; m++) {
    const pairs = new Map();
    for (const { parts, n } of words) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const key = `${parts[i]} ${parts[i + 1]}`;
        pairs.set(key, (pairs.get(key) ?? 0) + n);
      }
    }
    let best;
    let bestCount = 1;
    for (const [key, n] of pairs) if (n > bestCount) [best, bestCount] = [key, n];
    if (best === undefined) break;
    const [a, b] = best.split(" ");
    rules.push(best);
    // Two merge paths can spell the same token ("a bc", "ab c"): it keeps its first id.
    if (!known.has(a + b)) {
      known.add(a + b);
      vocab.push(a + b);
    }
    for (const w of words) {
      const next = [];
      for (let i = 0; i < w.parts.length; i++) {
        if (i + 1 < w.parts.length && w.parts[i] === a && w.parts[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(w.parts[i]);
      }
      w.parts = next;
    }
  }
  return { vocab, merges: rules };
}
