/**
 * Supervised fine-tuning examples: `{prompt, response}` pairs (raw text) or `{messages: [...]}`
 * chats (rendered with the checkpoint's chat template up to the last message, which is the
 * assistant's target), tokenized into prompt ids and response ids. Only response tokens carry loss.
 */
import type { ChatMessage, Tokenizer } from "../sdk/tokenizer.js";
import { DatasetError, readSourcedRecords, type SourcedRecord } from "./records.js";
import { resolveDatasetFiles } from "./sources.js";

/** One tokenized example. */
export interface SftExample {
  promptIds: number[];
  responseIds: number[];
}

/** Examples and how many records were dropped (too long, or malformed with `bad_lines: skip`). */
export interface SftExamples {
  examples: SftExample[];
  tooLong: number;
  skipped: number;
  firstProblem?: string;
}

/** Options of {@link loadSftExamples}. */
export interface SftLoadOptions {
  format: "auto" | "pairs" | "messages";
  maxLength: number;
  appendEos: boolean;
  badLines: "error" | "skip";
  limit: number | null;
  split?: string;
}

function isMessages(v: unknown): v is ChatMessage[] {
  return (
    Array.isArray(v) && v.length >= 2 && v.every((m) => typeof m?.role === "string" && typeof m?.content === "string")
  );
}

/** Prompt and response text of a record, or what is wrong with it. */
function texts(r: SourcedRecord, format: SftLoadOptions["format"], tokenizer: Tokenizer): [string, string] | string {
  const v = r.value;
  const messages = format === "messages" || (format === "auto" && v.messages !== undefined);
  if (messages) {
    if (!isMessages(v.messages)) return 'field "messages" must be a list of at least two {role, content} messages';
    const last = v.messages.at(-1)!;
    if (last.role !== "assistant") return `the last message must be the assistant's target, got role "${last.role}"`;
    return [tokenizer.applyChatTemplate(v.messages.slice(0, -1), { addGenerationPrompt: true }), last.content];
  }
  if (typeof v.prompt !== "string" || typeof v.response !== "string") {
    return 'expected {"prompt": "...", "response": "..."} or {"messages": [...]}';
  }
  return [v.prompt, v.response];
}

/** Reads and tokenizes the examples of a dataset setting. */
export async function loadSftExamples(spec: string, tokenizer: Tokenizer, o: SftLoadOptions): Promise<SftExamples> {
  const eos = tokenizer.eosTokenId;
  if (o.appendEos && eos === undefined) {
    throw new DatasetError("sft.append_eos is on, but the tokenizer declares no eos token");
  }
  const out: SftExamples = { examples: [], tooLong: 0, skipped: 0 };
  for (const file of await resolveDatasetFiles(spec, { ...(o.split ? { split: o.split } : {}) })) {
    const { records, skipped, firstProblem } = await readSourcedRecords(file, o.badLines);
    out.skipped += skipped;
    if (firstProblem !== undefined) out.firstProblem ??= firstProblem;
    for (const r of records) {
      const t = texts(r, o.format, tokenizer);
      if (typeof t === "string") {
        if (o.badLines === "error") throw new DatasetError(`${r.file}:${r.line}: ${t}`);
        out.skipped++;
        out.firstProblem ??= `${r.file}:${r.line}: ${t}`;
        continue;
      }
      const promptIds = tokenizer.encode(t[0]);
      const responseIds = [...tokenizer.encode(t[1]), ...(o.appendEos ? [eos!] : [])];
      if (responseIds.length === 0 || promptIds.length === 0) {
        if (o.badLines === "error") throw new DatasetError(`${r.file}:${r.line}: empty prompt or response`);
        out.skipped++;
        continue;
      }
      if (promptIds.length + responseIds.length > o.maxLength) {
        out.tooLong++;
        continue;
      }
      out.examples.push({ promptIds, responseIds });
      if (o.limit !== null && out.examples.length >= o.limit) return out;
    }
  }
  if (out.examples.length === 0)
    throw new DatasetError(`${spec}: no usable SFT examples (${out.tooLong} longer than sft.max_length)`);
  return out;
}
