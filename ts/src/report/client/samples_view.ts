/// <reference lib="dom" />
/** The dashboard's panel of a run's latest samples: reward, advantage, gate decision, texts. */
import type { SampleLine } from "../page_data.js";
import { el } from "./dom.js";
import { formatNumber } from "./svg_export.js";

const num = (v: number | null | undefined) => (typeof v === "number" ? formatNumber(v) : "");

function gate(gated: boolean | null | undefined): string {
  if (gated === true) return "gated";
  if (gated === false) return "kept";
  return "—";
}

/** A table of samples, newest first; the texts fold out. */
export function samplesTable(samples: SampleLine[]): HTMLElement {
  if (samples.length === 0) return el("p", { class: "muted" }, "no samples yet");
  const head = ["step", "prompt", "sample", "reward", "advantage", "mean log-prob", "gate", "finish", "response"];
  const rows = [...samples]
    .reverse()
    .map((s) =>
      el(
        "tr",
        { class: s.gated === true ? "gated" : "" },
        el("td", { class: "num" }, String(s.step)),
        el("td", { class: "num" }, String(s.prompt_index ?? "")),
        el("td", { class: "num" }, String(s.sample ?? "")),
        el("td", { class: "num" }, num(s.reward)),
        el("td", { class: "num" }, num(s.advantage)),
        el("td", { class: "num" }, num(s.mean_logprob)),
        el("td", {}, gate(s.gated)),
        el("td", {}, s.finish_reason ?? ""),
        el(
          "td",
          { class: "text" },
          el(
            "details",
            {},
            el("summary", {}, (s.response ?? "").slice(0, 120)),
            el("div", { class: "label" }, "prompt"),
            el("pre", {}, s.prompt ?? ""),
            el("div", { class: "label" }, "response"),
            el("pre", {}, s.response ?? ""),
          ),
        ),
      ),
    );
  return el(
    "table",
    { class: "samples" },
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows),
  );
}
