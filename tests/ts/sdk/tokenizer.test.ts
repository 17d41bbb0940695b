/** The tokenizer and chat template through the SDK, and text prompts on a Qwen-vocabulary model. */
import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { Policy, Tokenizer, initRandomCheckpoint } from "../../../ts/src/index.js";
import { dataFile } from "../data_files.js";

const tokenizerDir = dataFile("qwen2.5/tokenizer/vocab.json");
const dir = join(tokenizerDir.path, "..");
const tmp = mkdtempSync(join(tmpdir(), "lgpo-tok-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A 1-layer random model with Qwen2.5's vocabulary and the shared tokenizer files. */
export async function qwenVocabModel(path: string): Promise<string> {
  await initRandomCheckpoint(
    path,
    {
      architectures: ["Qwen2ForCausalLM"],
      model_type: "qwen2",
      vocab_size: 151936,
      hidden_size: 16,
      intermediate_size: 32,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      max_position_embeddings: 512,
      tie_word_embeddings: true,
    },
    { seed: 7 },
  );
  for (const f of readdirSync(dir)) copyFileSync(join(dir, f), join(path, f));
  return path;
}

describe.skipIf(tokenizerDir.skip)("Tokenizer", () => {
  it("encodes, decodes and renders the chat template as transformers does", () => {
    const tok = Tokenizer.fromDir(dir);
    expect(tok.encode("hello world")).toEqual([14990, 1879]);
    expect(tok.tokenToId("<|im_end|>")).toBe(151645);
    expect(tok.eosTokenId).toBe(151645);
    const text = "Solve $\\frac{1}{2} + 3$ 你好 🚀";
    expect(tok.decode(tok.encode(text))).toBe(text);
    // transformers 4.57.1, apply_chat_template(tokenize=False, add_generation_prompt=True):
    expect(tok.applyChatTemplate([{ role: "user", content: "What is 2+2?" }])).toBe(
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    );
    expect(() => Tokenizer.fromDir(join(tmp, "none"))).toThrow(/none/);
  });

  it("generates and scores text on a Qwen-vocabulary model", async () => {
    const policy = await Policy.load(await qwenVocabModel(join(tmp, "qwen")));
    const [g] = await policy.generate(["What is 2+2?"], { chat: true, maxNewTokens: 4, seed: 1 });
    expect(g!.promptIds.slice(0, 1)).toEqual([151644]);
    expect(g!.tokens).toHaveLength(4);
    expect(typeof g!.text).toBe("string");
    const [s] = await policy.logprobs([{ prompt: "2+2=", response: "4" }]);
    expect(s!.logprobs).toHaveLength(1);
    policy.dispose();
  });
});
