/**
 * The README's JavaScript examples run as written: each ```js block is saved as a module in the
 * repository (so that `import "lgpo"` resolves as it does for a user there) and run with node from
 * the repository root. A block that says it needs the network is only syntax-checked.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { runProcess } from "./cli_runner.js";
import { REPO_ROOT } from "./data_files.js";

const blocks = [...readFileSync(join(REPO_ROOT, "README.md"), "utf8").matchAll(/```js\n([\s\S]*?)```/g)].map(
  (m) => m[1]!,
);
const dir = join(REPO_ROOT, ".cache/readme-examples");
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("README examples", () => {
  it("are there", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(3);
  });

  blocks.forEach((code, i) => {
    const needsNetwork = /Needs the network/.test(code);
    it(`${needsNetwork ? "parses" : "runs"}: example ${i + 1} (${code.split("\n").find((l) => l.startsWith("import"))})`, async () => {
      const file = join(dir, `example-${i + 1}.mjs`);
      writeFileSync(file, code);
      const r = await runProcess(process.execPath, needsNetwork ? ["--check", file] : [file], {
        cwd: REPO_ROOT,
        timeoutMs: 180_000,
      });
      expect(r.code, `${r.stderr}\n${r.stdout}`).toBe(0);
      // A run directory the example made (its last line names it) is removed.
      const runDir = r.stdout
        .trim()
        .split("\n")
        .at(-1)
        ?.match(/(runs\/sdk-\d+)$/)?.[1];
      if (runDir) rmSync(resolve(REPO_ROOT, runDir), { recursive: true, force: true });
    });
  });

  it("the package works from another project after `npm install /path/to/lgpo/bindings/node /path/to/lgpo/ts`", async () => {
    const project = mkdtempSync(join(tmpdir(), "lgpo-user-project-"));
    try {
      writeFileSync(join(project, "package.json"), '{"name": "user-project", "private": true, "type": "module"}\n');
      const npm = process.platform === "win32" ? "npm.cmd" : "npm";
      const install = await runProcess(
        npm,
        [
          "install",
          "--no-audit",
          "--no-fund",
          "--prefer-offline",
          join(REPO_ROOT, "bindings/node"),
          join(REPO_ROOT, "ts"),
        ],
        { cwd: project, timeoutMs: 180_000 },
      );
      expect(install.code, install.stderr).toBe(0);
      const model = JSON.stringify(join(REPO_ROOT, "models/countdown-tiny"));
      writeFileSync(
        join(project, "main.mjs"),
        `import { Policy } from "lgpo";\nconst p = await Policy.load(${model});\nconst [g] = await p.generate(["Numbers: [1, 2, 3]. Target: 6. Use each number once with + - * /.\\n<think>"], { maxNewTokens: 8 });\nconsole.log(g.tokens.length);\np.dispose();\n`,
      );
      const r = await runProcess(process.execPath, ["main.mjs"], { cwd: project, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(Number(r.stdout.trim())).toBeGreaterThan(0);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
