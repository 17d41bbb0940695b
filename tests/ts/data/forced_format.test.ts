/** The tokens Countdown's format forces, on the shipped model's tokenizer (merged tags) and a byte tokenizer. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { forcedFormatTokens } from "../../../ts/src/data/forced_format.js";
import { Tokenizer } from "../../../ts/src/sdk/tokenizer.js";
import { REPO_ROOT } from "../data_files.js";
import { writeByteTokenizer } from "../train/tiny_model.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-forced-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RESPONSE = " 2 * 5 = 10, 10 + 6 = 16</think>\n<answer>2 * 5 + 6</answer>";

/** The text of the forced tokens and of the others, each joined. */
function split(tokenizer: Tokenizer, ids: number[], forced: boolean[]) {
  const text = (keep: boolean) =>
    tokenizer.decode(
      ids.filter((_, i) => forced[i] === keep),
      { skipSpecialTokens: true },
    );
  return { forced: text(true), chosen: text(false) };
}

describe("forcedFormatTokens", () => {
  for (const [name, load] of [
    ["the shipped model's BPE", () => Tokenizer.fromDir(join(REPO_ROOT, "models/countdown-tiny"))],
    [
      "a byte tokenizer",
      () => {
        writeByteTokenizer(tmp);
        return Tokenizer.fromDir(tmp);
      },
    ],
  ] as const) {
    it(`marks the tags and the stop after the answer, nothing else (${name})`, () => {
      const tokenizer = load();
      const eos = tokenizer.eosTokenId!;
      const ids = [...tokenizer.encode(RESPONSE), eos];
      const forced = forcedFormatTokens("countdown", tokenizer, ids);
      expect(forced).toHaveLength(ids.length);
      expect(forced.at(-1)).toBe(true);
      const { forced: tags, chosen } = split(tokenizer, ids, forced);
      // Every forced token lies in a tag run; every tag character is in a forced token unless a
      // token joins it to a chosen character (then the token is the model's choice).
      expect(tags.replace(/<\/?(think|answer)>|\s/g, "")).toBe("");
      expect(chosen).toContain("2 * 5 + 6");
      expect(chosen).toContain("= 16");
      expect(tags.length + chosen.length).toBe(RESPONSE.length);
    });
  }

  it("keeps a stop token that does not follow an answer, and marks nothing for math", () => {
    writeByteTokenizer(tmp);
    const tokenizer = Tokenizer.fromDir(tmp);
    const ids = [...tokenizer.encode(" 2 + 3 = 5</think>\n"), tokenizer.eosTokenId!];
    const forced = forcedFormatTokens("countdown", tokenizer, ids);
    expect(forced.at(-1)).toBe(false);
    // Byte tokens: the 8 bytes of "</think>" are forced; the newline after it (no tag follows)
    // and everything before it are not.
    expect(forced.filter(Boolean)).toHaveLength(8);
    expect(forced.slice(0, ids.length - 10).some(Boolean)).toBe(false);
    expect(forced.slice(ids.length - 10, ids.length - 2).every(Boolean)).toBe(true);
    expect(forcedFormatTokens("math", tokenizer, ids).some(Boolean)).toBe(false);
    expect(forcedFormatTokens("countdown", tokenizer, [])).toEqual([]);
  });
});
