/**
 * Generating G samples for each of a list of prompts in bounded chunks, while the rewards of the
 * previous chunk are scored: generation runs off the JS thread, so a verifier working on the JS
 * thread (or in its worker pool) overlaps with it.
 */
import type { Generation, Policy } from "../sdk/policy.js";

/** Sampling settings of a rollout. */
export interface GroupSampling {
  groupSize: number;
  maxNewTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  /** Rows per generate call; whole groups are kept together. */
  rowsPerChunk: number;
  /** Stop ids; default: the policy's (its checkpoint's eos ids). `[]` runs every row to `maxNewTokens`. */
  stopTokenIds?: number[];
  /**
   * Seed of the rollout: sample k of prompt i draws from random stream `i * groupSize + k`
   * (Policy.generate's `firstRow`), whatever the chunking.
   */
  seed: number;
  /**
   * Index of the first prompt in the step's whole list, when this call generates a slice of it
   * (a data-parallel rank's share): its rows draw the streams the whole list's would. Default 0.
   */
  firstPrompt?: number;
}

/** The samples of one prompt, in sample order. */
export type Group = Generation[];

/** Timings of {@link generateGroups}. */
export interface GroupTimings {
  /** Wall seconds until the last chunk was generated (scoring of earlier chunks hides inside). */
  generateS: number;
  /** Seconds of `onChunk` work left after the last chunk was generated (not hidden). */
  tailS: number;
}

/**
 * Generates `groupSize` samples of every prompt, chunk by chunk, calling `onChunk(groups, first)`
 * for each finished chunk while the next one generates; resolves when all chunks and all
 * `onChunk` work are done. `first` is the index of the chunk's first prompt.
 */
export async function generateGroups(
  policy: Policy,
  promptIds: readonly number[][],
  sampling: GroupSampling,
  onChunk: (groups: Group[], first: number) => Promise<void>,
): Promise<GroupTimings> {
  const perChunk = Math.max(1, Math.floor(sampling.rowsPerChunk / sampling.groupSize));
  const pending: Promise<void>[] = [];
  let previous: { groups: Group[]; first: number } | undefined;
  const t0 = performance.now();
  for (let first = 0; first < promptIds.length; first += perChunk) {
    const prompts = promptIds.slice(first, first + perChunk);
    // The native call is queued before the previous chunk is scored, so the two overlap.
    const generating = policy.generate(prompts, {
      n: sampling.groupSize,
      maxNewTokens: sampling.maxNewTokens,
      temperature: sampling.temperature,
      topP: sampling.topP,
      topK: sampling.topK,
      seed: sampling.seed,
      firstRow: ((sampling.firstPrompt ?? 0) + first) * sampling.groupSize,
      ...(sampling.stopTokenIds ? { stopTokenIds: sampling.stopTokenIds } : {}),
    });
    if (previous) pending.push(onChunk(previous.groups, previous.first));
    const generated = await generating;
    const groups: Group[] = [];
    for (let i = 0; i < prompts.length; i++) {
      groups.push(generated.slice(i * sampling.groupSize, (i + 1) * sampling.groupSize));
    }
    previous = { groups, first };
  }
  const t1 = performance.now();
  if (previous) pending.push(onChunk(previous.groups, previous.first));
  await Promise.all(pending);
  return { generateS: (t1 - t0) / 1000, tailS: (performance.now() - t1) / 1000 };
}
