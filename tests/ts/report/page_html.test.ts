/** The page document: data that looks like markup stays data, and the CSP admits only the page's own scripts. */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";

import { CHART_CATALOG, HIDDEN_KEYS } from "../../../ts/src/report/catalog.js";
import { renderPage } from "../../../ts/src/report/html.js";
import type { PageData } from "../../../ts/src/report/page_data.js";

const hostile = "</script><script>alert(1)</script><!--";

function page(mode: PageData["mode"]): PageData {
  return {
    mode,
    title: `runs ${hostile}`,
    generated: "2026-01-01T00:00:00Z",
    runs: [{ name: hostile, dir: `/tmp/${hostile}` }],
    groups: [{ label: hostile, runs: [0] }],
    seedBands: true,
    configDiff: { keys: [hostile], values: [[hostile]] },
    catalog: CHART_CATALOG,
    hiddenKeys: HIDDEN_KEYS,
  };
}

describe("renderPage", () => {
  it("keeps markup in run names and config values inert", () => {
    const html = renderPage(page("report"));
    const scripts = html.match(/<script\b[^>]*>/g)!;
    expect(scripts).toEqual(['<script id="lgpo-data" type="application/json">', "<script>", "<script>"]);
    expect(html).toContain("<title>runs &#60;/script&#62;");
    const json = html.match(/<script id="lgpo-data" type="application\/json">(.*?)<\/script>/s)![1]!;
    expect(JSON.parse(json)).toEqual(page("report"));
  });

  it("allows exactly its inline scripts by hash, and network requests only on the dashboard", () => {
    const html = renderPage(page("report"));
    const csp = html.match(/http-equiv="Content-Security-Policy" content="([^"]+)"/)![1]!;
    const bodies = [...html.matchAll(/<script>(.*?)<\/script>/gs)].map((m) => m[1]!);
    const hashes = bodies.map((b) => `'sha256-${createHash("sha256").update(b).digest("base64")}'`);
    expect(csp).toContain(`script-src ${hashes.join(" ")};`);
    expect(csp.startsWith("default-src 'none'")).toBe(true);
    expect(csp).not.toContain("connect-src");
    expect(renderPage(page("dashboard"))).toContain("connect-src 'self'");
  });
});
