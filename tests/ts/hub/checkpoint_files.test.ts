/** Which files of a model repository the hub client fetches: the core's list, not a second copy. */
import { describe, expect, it } from "vitest";

import { CHECKPOINT } from "../../../ts/src/hub/model.js";
import { native } from "../../../ts/src/sdk/native.js";

describe("checkpoint files", () => {
  it("are config.json and every file the core carries over on save, plus the safetensors weights", () => {
    const kept = native().checkpointFiles();
    // The two lists had drifted: the task card and the JSON chat template were each in one only.
    for (const f of ["config.json", "lgpo.json", "chat_template.json", "chat_template.jinja", "tokenizer.json"]) {
      expect(kept).toContain(f);
    }
    const repo = [...kept, "model.safetensors", "README.md", "pytorch_model.bin", "onnx/model.onnx", ".gitattributes"];
    expect(CHECKPOINT.select(repo)).toEqual([...kept, "model.safetensors"].sort());
  });
});
