/**
 * Job-wide arrays from the ranks' parts, in the order one process would hold them. Each rank
 * writes its items at their global indices into a zero-filled array and the ranks sum the arrays:
 * x + 0 is exactly x, so the result is exact, and one all-reduce serves any number of ranks.
 */
import type { World } from "./world.js";

/**
 * The global array of `total` values whose items at `indices` are this rank's `values`
 * (every index is owned by exactly one rank).
 */
export async function gatherByIndex(
  world: World,
  values: readonly number[],
  indices: readonly number[],
  total: number,
  what: string,
): Promise<number[]> {
  if (values.length !== indices.length) {
    throw new RangeError(`gather ${what}: ${values.length} values for ${indices.length} indices`);
  }
  const out = new Array<number>(total).fill(0);
  indices.forEach((at, i) => {
    out[at] = values[i]!;
  });
  return world.size === 1 ? out : world.allReduce(out, "sum", what);
}

/** {@link gatherByIndex} for rows of any lengths (e.g. one row of token entropies per sample). */
export async function gatherRows(
  world: World,
  rows: readonly (readonly number[])[],
  indices: readonly number[],
  total: number,
  what: string,
): Promise<number[][]> {
  const lengths = await gatherByIndex(
    world,
    rows.map((r) => r.length),
    indices,
    total,
    `${what} (lengths)`,
  );
  const offsets: number[] = [];
  let size = 0;
  for (const n of lengths) {
    offsets.push(size);
    size += n;
  }
  const flatIndices: number[] = [];
  const flat: number[] = [];
  rows.forEach((row, i) => {
    row.forEach((v, t) => {
      flatIndices.push(offsets[indices[i]!]! + t);
      flat.push(v);
    });
  });
  const all = await gatherByIndex(world, flat, flatIndices, size, what);
  return lengths.map((n, i) => all.slice(offsets[i]!, offsets[i]! + n));
}
