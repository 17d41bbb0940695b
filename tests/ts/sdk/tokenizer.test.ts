/** The tokenizer and chat template through the SDK, and text prompts on a Qwen-vocabulary model. */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
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

  it("saves a standard tokenizer.json that loads with the same ids", () => {
    const tok = Tokenizer.fromDir(dir);
    const out = join(tmp, "saved");
    mkdirSync(out);
    tok.saveJson(join(out, "tokenizer.json"));
    expect(readdirSync(out)).toEqual(["tokenizer.json"]);
    const saved = Tokenizer.fromDir(out);
    const text = "<|im_start|>user\nNumbers: [3, 7, 9]. Target: 12. 你好<|im_end|>";
    expect(saved.encode(text)).toEqual(tok.encode(text));
    expect(saved.vocabSize).toBe(tok.vocabSize);
    expect(() => tok.saveJson(join(tmp, "no/such/dir/tokenizer.json"))).toThrow(/no\/such\/dir\/tokenizer\.json/);
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

  it("decodes ids the tokenizer lacks to nothing, counted, and keeps user input strict", () => {
    const tok = Tokenizer.fromDir(dir);
    const hi = tok.encode("hi there");
    // 151917: a row of Qwen2.5's padded embedding table (151,665 ..= 151,935) that no token has.
    expect(tok.decodeLenient([151917, ...hi, 151665], { skipSpecialTokens: true })).toEqual({
      text: "hi there",
      unknownTokens: 2,
    });
    expect(() => tok.decode([151917])).toThrow(/151917/);
  });

  it("masks the padded vocabulary rows by default, and decodes them leniently when unmasked", async () => {
    const policy = await Policy.load(await qwenVocabModel(join(tmp, "qwen-mask")));
    try {
      // A random model is near uniform over 151,936 rows, 271 of them padding: 4,096 tokens hold
      // about 7 padded ids when nothing is masked, and none by default.
      const options = { n: 64, maxNewTokens: 64, seed: 3, stopTokenIds: [] };
      const masked = await policy.generate([[1, 2, 3]], options);
      expect(masked.flatMap((g) => g.tokens).every((t) => t < 151665)).toBe(true);
      const warnings: Error[] = [];
      const onWarning = (w: Error) => warnings.push(w);
      process.on("warning", onWarning);
      const unmasked = await policy.generate([[1, 2, 3]], { ...options, vocabLimit: false });
      await new Promise((resolve) => setImmediate(resolve));
      process.off("warning", onWarning);
      const padded = unmasked.flatMap((g) => g.tokens).filter((t) => t >= 151665).length;
      expect(padded).toBeGreaterThan(0);
      expect(unmasked.reduce((a, g) => a + g.unknownTokens, 0)).toBe(padded);
      expect(warnings.filter((w) => /decoded to nothing/.test(w.message))).toHaveLength(1);
    } finally {
      policy.dispose();
    }
  });
});
