/** Every error path of the SDK: JS Errors with the core's message, never a crashed process. */
import { mkdtempSync, rmSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { Policy, objectives, type TrainConfig, TrainConfigSchema } from "../../../ts/src/index.js";
import { native } from "../../../ts/src/sdk/native.js";
import { TINY_TIED } from "../fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-errors-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("errors cross the boundary as exceptions", () => {
  it("names the missing file of a bad checkpoint directory", async () => {
    const err = await Policy.load(join(tmp, "nope")).catch((e: unknown) => e as Error & { code?: string });
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toContain("config.json");
    expect(err.code).toBe("InvalidArg");
  });

  it("names the missing tensor and the bad config field", async () => {
    const dir = join(tmp, "broken");
    mkdirSync(dir);
    copyFileSync(join(TINY_TIED, "config.json"), join(dir, "config.json"));
    writeFileSync(
      join(dir, "model.safetensors"),
      Buffer.from([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]),
    );
    await expect(Policy.load(dir)).rejects.toThrow(
      /model\.embed_tokens\.weight.*missing|missing.*model\.embed_tokens\.weight/,
    );
    writeFileSync(join(dir, "config.json"), JSON.stringify({ hidden_size: 64 }));
    await expect(Policy.load(dir)).rejects.toThrow(/config\.json.*vocab_size/);
  });

  it("rejects bad options by name", async () => {
    await expect(Policy.load(TINY_TIED, { dtype: "f64" as "f32" })).rejects.toThrow(/dtype/);
    await expect(Policy.load(TINY_TIED, { train: { micro_batch_size: 0 } })).rejects.toThrow(/micro_batch_size/);
    await expect(Policy.load(TINY_TIED, { train: { bogus: 1 } as object })).rejects.toThrow(/bogus/);
    await expect(Policy.load(TINY_TIED, { train: { optimizer: { lr: -1 } } })).rejects.toThrow(/train\.optimizer\.lr/);
    const schedule = { kind: "cosine", warmup_steps: 2 } as TrainConfig["schedule"];
    await expect(Policy.load(TINY_TIED, { train: { schedule } })).rejects.toThrow(/train\.schedule\.total_steps/);
  });

  it("states the core's training defaults in the SDK's schema", () => {
    expect(TrainConfigSchema.parse({})).toEqual(native().defaultTrainConfig());
  });

  it("throws on wrong types and shapes, naming the argument", async () => {
    const policy = await Policy.load(TINY_TIED);
    await expect(policy.generate([[1, 2], "text"])).rejects.toThrow(/prompts\[1\] is text.*no tokenizer/);
    await expect(policy.generate([[1, -2]])).rejects.toThrow(TypeError);
    await expect(policy.generate([[1, 500]])).rejects.toThrow(/prompts\[0\]\[1\] = 500.*vocabulary/);
    await expect(policy.generate([[1]], { topP: 0 })).rejects.toThrow(/top_p/);
    await expect(policy.logprobs([{ promptIds: "abc", responseIds: [1] } as never])).rejects.toThrow(
      /batch\[0\]\.promptIds/,
    );
    const seq = { promptIds: [1, 2], responseIds: [3, 4] };
    await expect(
      policy.trainStep({ sequences: [seq], advantages: [1], oldLogprobs: [[-1]] }, { name: "grpo" }),
    ).rejects.toThrow(/minibatch\.oldLogprobs\[0\] has 1 values for 2/);
    await expect(policy.trainStep({ sequences: [seq], advantages: [1] }, { name: "grpo" })).rejects.toThrow(
      /old_logprobs/,
    );
    await expect(policy.trainStep({ sequences: [seq], advantages: [1] }, { name: "ppo" as "pg" })).rejects.toThrow(
      /unknown objective `ppo`.*lgpo/,
    );
    expect(() =>
      objectives.evaluate(
        { name: "grpo", gate: { tau: -1 } },
        { logprobs: [[-1]], advantages: [1], oldLogprobs: [[-1]] },
      ),
    ).toThrow(/no likelihood gate/);
    policy.dispose();
  });

  it("throws on calls to a disposed policy", async () => {
    const policy = await Policy.load(TINY_TIED);
    policy.dispose();
    expect(policy.disposed).toBe(true);
    await expect(policy.generate([[1, 2]])).rejects.toThrow(/disposed/);
    await expect(policy.logprobs([{ promptIds: [1], responseIds: [2] }])).rejects.toThrow(/disposed/);
    await expect(policy.save(join(tmp, "x"))).rejects.toThrow(/disposed/);
  });

  it("turns a Rust panic into an exception and keeps the process alive", async () => {
    expect(() => native()._debugPanic("boom")).toThrow(/internal error in lgpo-core \(panic\): boom/);
    const policy = await Policy.load(TINY_TIED);
    const scores = await policy.logprobs([{ promptIds: [1], responseIds: [2] }]);
    expect(scores).toHaveLength(1);
    policy.dispose();
  });
});
