/// <reference lib="dom" />
/** Small DOM helpers of the page: element creation (text only, never HTML) and downloads. */

/** An element with attributes and children; strings become text nodes, so data is never parsed as HTML. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Offers `blob` as a file download named `name`. */
export function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** A file name from a metric key: `eval/countdown/avg@8` → `eval_countdown_avg_8`. */
export function fileStem(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]+/g, "_");
}
