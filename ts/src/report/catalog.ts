/**
 * Which charts a report draws and in what order: the curves by which the LGPO paper judges a run,
 * then every other metric. A chart is drawn only when some run has its key.
 */
import type { ChartSection } from "./page_data.js";

/** Keys that are axes, not metrics. */
export const HIDDEN_KEYS = ["step", "time"];

/** The sections of a report, in reading order. */
export const CHART_CATALOG: ChartSection[] = [
  {
    title: "Reward",
    charts: [
      { key: "reward/mean", title: "reward, mean", note: "paper Figures 3 and 4" },
      { key: "reward/success_frac", title: "success fraction" },
    ],
  },
  { title: "Evaluation", prefix: "eval/" },
  {
    title: "Responses and entropy",
    charts: [
      { key: "response_length/mean", title: "response length, mean (tokens)" },
      { key: "entropy/mean", title: "generation entropy", note: "paper Figures 5 and 9" },
      { key: "response_length/clip_frac", title: "responses cut at max_new_tokens" },
    ],
  },
  {
    title: "Trust region",
    charts: [
      { key: "kl/initial", title: "KL to the initial policy", note: "paper Figure 2" },
      { key: "gate/gated_frac", title: "gated fraction", note: "paper Figure 11" },
      { key: "gate/zero_adv_frac", title: "zero-advantage fraction", note: "paper Figure 11" },
      { key: "gate/kept_nonzero_adv_frac", title: "kept, non-zero advantage", note: "paper Figure 11" },
      { key: "clip/frac_low", title: "clipped below (A < 0)" },
      { key: "clip/frac_high", title: "clipped above (A > 0)" },
      { key: "kl/old_approx", title: "KL(old ‖ current), k3" },
    ],
  },
  {
    title: "Optimisation",
    charts: [
      { key: "grad_norm", title: "gradient norm (before clipping)" },
      { key: "lr", title: "learning rate" },
      { key: "loss", title: "loss" },
    ],
  },
  {
    title: "Step time (seconds)",
    charts: [
      { key: "time/step_s", title: "whole step" },
      { key: "time/generate_s", title: "generation" },
      { key: "time/old_logprob_s", title: "old-policy log-probs (0 for LGPO)" },
      { key: "time/update_s", title: "optimizer updates" },
      { key: "time/reward_s", title: "rewards" },
    ],
  },
  { title: "Other metrics", rest: true },
];
