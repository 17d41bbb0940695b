/**
 * The response tokens a task's format forces, which say nothing about the model's choices: for
 * Countdown, TinyZero's think/answer tags (`</think>\n<answer>`, `</answer>`) and the stop token
 * right after the answer. LGPO's gate can leave them out of a sequence's mean log-likelihood
 * (`objective.gate.exclude_forced`): on a small model they are a third of a response at
 * log-prob ~0 and lift every sequence toward τ alike.
 */
import type { Tokenizer } from "../sdk/tokenizer.js";
import type { Task } from "./tasks.js";

/** A run of tags with only whitespace between them. */
const COUNTDOWN_TAG_RUN = /<\/?(?:think|answer)>(?:\s*<\/?(?:think|answer)>)*/g;

/** Per tokenizer: each id's text (special tokens decode to ""). */
const pieces = new WeakMap<Tokenizer, Map<number, string>>();

function piece(tokenizer: Tokenizer, id: number): string {
  let cache = pieces.get(tokenizer);
  if (cache === undefined) {
    cache = new Map();
    pieces.set(tokenizer, cache);
  }
  let text = cache.get(id);
  if (text === undefined) {
    text = tokenizer.decodeLenient([id], { skipSpecialTokens: true }).text;
    cache.set(id, text);
  }
  return text;
}

/**
 * One flag per response token: true when the task's format forces it. A token is forced when
 * every character of it lies in a run of format tags; the final special token (eos, `<|im_end|>`)
 * is forced when the text before it ends with `</answer>`. Math marks nothing.
 */
export function forcedFormatTokens(
  task: Task["kind"],
  tokenizer: Tokenizer,
  responseIds: readonly number[],
): boolean[] {
  const forced = new Array<boolean>(responseIds.length).fill(false);
  if (task !== "countdown" || responseIds.length === 0) return forced;
  const texts = responseIds.map((id) => piece(tokenizer, id));
  const text = texts.join("");
  const inTag = new Uint8Array(text.length);
  for (const m of text.matchAll(COUNTDOWN_TAG_RUN)) inTag.fill(1, m.index, m.index + m[0].length);
  let offset = 0;
  texts.forEach((t, i) => {
    if (t.length > 0 && inTag.subarray(offset, offset + t.length).every((c) => c === 1)) forced[i] = true;
    offset += t.length;
  });
  const last = texts.length - 1;
  if (texts[last] === "" && text.trimEnd().endsWith("</answer>")) forced[last] = true;
  return forced;
}
