/** `lgpo-run report --svg`: one SVG per metric, seed groups as a band, smoothing, clear errors. */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { figureStem, renderFigures } from "../../../ts/src/report/figures.js";
import { runCli } from "../cli_runner.js";
import { writeSyntheticRun } from "./synthetic_run.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-figures-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const dirs = ["lgpo", "grpo"].flatMap((objective) =>
  [0, 1].map((seed) =>
    writeSyntheticRun(join(tmp, `${objective}/seed-${seed}`), {
      objective: objective as "lgpo" | "grpo",
      seed,
      steps: 40,
    }),
  ),
);

/** The `d` attributes of the SVG's paths: lines (stroke only) and bands (filled). */
function paths(svg: string) {
  const all = [...svg.matchAll(/<path d="([^"]+)"([^>]*)>/g)];
  return {
    lines: all.filter((m) => m[2]!.includes('stroke="#')).map((m) => m[1]!),
    bands: all.filter((m) => m[2]!.includes("fill-opacity")).map((m) => m[1]!),
  };
}

describe("renderFigures", () => {
  it("draws each seed group as a line and a band, labelled by arm", async () => {
    const [figure] = renderFigures(dirs, { keys: ["reward/mean"] });
    const { lines, bands } = paths(figure!.svg);
    expect(lines).toHaveLength(2);
    expect(bands).toHaveLength(2);
    expect(figure!.svg).toContain(">lgpo (2 seeds)<");
    expect(figure!.svg).toContain(">grpo (2 seeds)<");
    // Smoothing changes the curves and says so in the title; runs on their own draw no band.
    const [smooth] = renderFigures(dirs, { keys: ["reward/mean"], smoothing: 0.9 });
    expect(smooth!.svg).toContain("smoothed (EMA 0.9)");
    expect(paths(smooth!.svg).lines).not.toEqual(lines);
    const [single] = renderFigures(dirs, { keys: ["reward/mean"], seedBands: false });
    expect(paths(single!.svg)).toMatchObject({ bands: [] });
    expect(paths(single!.svg).lines).toHaveLength(4);
  });

  it("names a metric no run has", async () => {
    expect(() => renderFigures(dirs, { keys: ["reward/mean", "nope/x"] })).toThrow(/no run has the metric `nope\/x`/);
  });
});

describe("lgpo-run report --svg", () => {
  it("writes one file per metric, and refuses --svg without --metrics or a bad --smoothing (exit 2)", async () => {
    const out = join(tmp, "figs");
    const r = await runCli(
      ["report", ...dirs, "--svg", out, "--metrics", "reward/mean,entropy/mean", "--smoothing", "0.5"],
      {
        timeoutMs: 60_000,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual([`${figureStem("entropy/mean")}.svg`, "reward_mean.svg"]);
    expect(readFileSync(join(out, "reward_mean.svg"), "utf8")).toMatch(/^<svg xmlns/);
    for (const args of [
      ["--svg", out],
      ["--svg", out, "--metrics", "reward/mean", "--smoothing", "1"],
      ["--metrics", "x"],
    ]) {
      const bad = await runCli(["report", ...dirs, ...args], { timeoutMs: 60_000 });
      expect(bad.code, bad.stderr).toBe(2);
      expect(bad.stderr).toMatch(/--metrics|--smoothing/);
    }
  });
});
