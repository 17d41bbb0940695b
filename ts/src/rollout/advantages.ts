/**
 * Group-relative advantages (GRPO): each sample's reward minus its group's mean, divided by the
 * group's standard deviation (or the batch's, or nothing), and DAPO's overlong reward shaping.
 */

/** How rewards are scaled after the group mean is subtracted. */
export type AdvantageScale = "group_std" | "batch_std" | "none";

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (unbiased, as `torch.std`, which GRPO implementations use); 0 for one sample. */
function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
}

/**
 * Advantages of `rewards`, laid out group after group (`groupSize` each):
 * A_i = (R_i − mean(group)) / (scale + eps). A group whose rewards are all equal gets A = 0 exactly.
 */
export function groupAdvantages(
  rewards: readonly number[],
  groupSize: number,
  scale: AdvantageScale,
  eps: number,
): number[] {
  if (groupSize < 1 || rewards.length % groupSize !== 0) {
    throw new Error(`${rewards.length} rewards do not split into groups of ${groupSize}`);
  }
  const batchStd = scale === "batch_std" ? std(rewards) : 1;
  const out: number[] = [];
  for (let g = 0; g < rewards.length; g += groupSize) {
    const group = rewards.slice(g, g + groupSize);
    const m = mean(group);
    const s = scale === "group_std" ? std(group) : scale === "batch_std" ? batchStd : 1;
    const divisor = scale === "none" ? 1 : s + eps;
    // Equal rewards give exactly 0 (the rounded mean could differ from them by an ulp, and / eps
    // would blow that up), so such sequences are skipped as zero-advantage.
    const constant = group.every((x) => x === group[0]);
    for (const r of group) out.push(constant ? 0 : (r - m) / divisor);
  }
  return out;
}

/**
 * DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13): 0 up to `maxTokens − buffer` tokens,
 * then a linear penalty reaching −`penalty` at `maxTokens`.
 */
export function overlongPenalty(length: number, maxTokens: number, buffer: number, penalty: number): number {
  const free = maxTokens - buffer;
  if (length <= free) return 0;
  return -penalty * Math.min(1, (length - free) / buffer);
}
