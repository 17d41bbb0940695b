/** Importing the package does not load the native addon: it loads on the first call that needs it. */
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { runProcess } from "../cli_runner.js";
import { REPO_ROOT } from "../data_files.js";

describe("the native addon", () => {
  it("is not loaded by importing lgpo, and is by the first value that needs the core (the gate's default tau)", async () => {
    const script = `
      const m = await import(${JSON.stringify(join(REPO_ROOT, "ts/dist/index.js"))});
      const { createRequire } = await import("node:module");
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((k) => k.includes("bindings/node"));
      const before = loaded();
      const tau = m.GATE_DEFAULTS.tau;
      console.log(JSON.stringify({ before, after: loaded(), tau }));
    `;
    const r = await runProcess(process.execPath, ["--input-type=module", "-e", script], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ before: false, after: true, tau: -0.15 });
  });
});
