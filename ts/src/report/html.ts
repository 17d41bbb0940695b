/**
 * The HTML of the report and dashboard page: one self-contained document with the stylesheet,
 * uPlot (read from node_modules at render time), the page script (bundled by the build) and the
 * page's data inlined. A Content-Security-Policy allows exactly these inline scripts and, for the
 * dashboard, requests to its own server: a report never touches the network.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import type { PageData } from "./page_data.js";
import { PAGE_CSS } from "./page_style.js";

/** The page script built by `scripts/build.mjs` (the same path from ts/src and ts/dist). */
const PAGE_SCRIPT = fileURLToPath(new URL("../../dist/report/page.js", import.meta.url));

interface Assets {
  uplotJs: string;
  uplotCss: string;
  pageJs: string;
}

let cached: Assets | undefined;

function readAssets(): Assets {
  if (cached !== undefined) return cached;
  if (!existsSync(PAGE_SCRIPT)) {
    throw new Error(`${PAGE_SCRIPT} is missing: build the package (node scripts/build.mjs)`);
  }
  const require = createRequire(import.meta.url);
  cached = {
    uplotJs: readFileSync(require.resolve("uplot/dist/uPlot.iife.min.js"), "utf8"),
    uplotCss: readFileSync(require.resolve("uplot/dist/uPlot.min.css"), "utf8"),
    pageJs: readFileSync(PAGE_SCRIPT, "utf8"),
  };
  return cached;
}

/** Text safe inside a <script> element. */
function scriptText(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1");
}

const sha256 = (text: string) => `'sha256-${createHash("sha256").update(text).digest("base64")}'`;

function escapeHtml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page document for `data`. */
export function renderPage(data: PageData): string {
  const assets = readAssets();
  const json = JSON.stringify(data).replace(/</g, "\\u003c");
  const scripts = [scriptText(assets.uplotJs), scriptText(assets.pageJs)];
  const style = assets.uplotCss + PAGE_CSS;
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.map(sha256).join(" ")}`,
    // uPlot and the page set style attributes; styles carry no script.
    "style-src 'unsafe-inline'",
    "img-src data: blob:",
    data.mode === "dashboard" ? "connect-src 'self'" : "",
  ]
    .filter((d) => d !== "")
    .join("; ");
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${csp}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(data.title)}</title>`,
    `<style>${style}</style>`,
    "</head>",
    "<body>",
    `<script id="lgpo-data" type="application/json">${json}</script>`,
    ...scripts.map((s) => `<script>${s}</script>`),
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
