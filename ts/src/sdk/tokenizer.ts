/** The model's tokenizer, with its chat template rendered by `@huggingface/jinja`. */
import { Template } from "@huggingface/jinja";

import { native } from "./native.js";
import type { NativeTokenizer } from "@lgpo/native";
import { assertTokenIds } from "./validate.js";

/** One chat message, as in Hugging Face chat templates. */
export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

/** Options of {@link Tokenizer.applyChatTemplate}. */
export interface ChatTemplateOptions {
  /** Append the assistant turn header so the model continues as the assistant (default true). */
  addGenerationPrompt?: boolean;
}

/** Byte-level BPE tokenizer of a Qwen2/Qwen2.5 checkpoint directory. */
export class Tokenizer {
  private template: Template | undefined;

  private constructor(private readonly inner: NativeTokenizer) {}

  /**
   * Loads `tokenizer.json`, or `vocab.json` + `merges.txt` + `tokenizer_config.json`, from
   * `dir`. Throws an `Error` naming the missing or bad file.
   */
  static fromDir(dir: string): Tokenizer {
    return new Tokenizer(native().NativeTokenizer.fromDir(dir));
  }

  /** Token ids of `text`; special tokens written in the text (`<|im_start|>`) map to their ids. */
  encode(text: string): number[] {
    if (typeof text !== "string") throw new TypeError(`text must be a string, got ${typeof text}`);
    return this.inner.encode(text);
  }

  /** Text of `ids`; special tokens are kept unless `skipSpecialTokens`. */
  decode(ids: number[], options: { skipSpecialTokens?: boolean } = {}): string {
    assertTokenIds(ids, "ids");
    return this.inner.decode(Array.from(ids), options.skipSpecialTokens ?? false);
  }

  /**
   * Text of model output `ids`: ids the tokenizer lacks (rows of a padded embedding table) decode
   * to nothing, as in Hugging Face tokenizers, and are counted in `unknownTokens`. For ids a user
   * gives, {@link decode} stays strict.
   */
  decodeLenient(ids: number[], options: { skipSpecialTokens?: boolean } = {}): { text: string; unknownTokens: number } {
    assertTokenIds(ids, "ids");
    return this.inner.decodeLenient(Array.from(ids), options.skipSpecialTokens ?? false);
  }

  /**
   * Writes the tokenizer as a standard `tokenizer.json` at `path` (written to a temporary file,
   * then renamed). The chat template and the token names stay in `tokenizer_config.json`.
   */
  saveJson(path: string): void {
    if (typeof path !== "string") throw new TypeError(`path must be a string, got ${typeof path}`);
    this.inner.saveJson(path);
  }

  /** Id of a token string, or `undefined` when it is not in the vocabulary. */
  tokenToId(token: string): number | undefined {
    return this.inner.tokenToId(token) ?? undefined;
  }

  /** Vocabulary size, added tokens included. */
  get vocabSize(): number {
    return this.inner.vocabSize;
  }

  /** Id of the end-of-sequence token of `tokenizer_config.json`, if declared. */
  get eosTokenId(): number | undefined {
    const eos = this.inner.eosToken;
    return eos === null ? undefined : this.tokenToId(eos);
  }

  /** The chat template of `tokenizer_config.json`, if any. */
  get chatTemplate(): string | undefined {
    return this.inner.chatTemplate ?? undefined;
  }

  /** Renders `messages` with the model's chat template (as `apply_chat_template(tokenize=False)`). */
  applyChatTemplate(messages: ChatMessage[], options: ChatTemplateOptions = {}): string {
    const source = this.chatTemplate;
    if (source === undefined)
      throw new Error("this tokenizer has no chat template (tokenizer_config.json has no chat_template)");
    this.template ??= new Template(source);
    return this.template.render({
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
      eos_token: this.inner.eosToken ?? "",
      pad_token: this.inner.padToken ?? "",
    });
  }
}
