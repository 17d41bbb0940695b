/**
 * How a list is cut over the ranks: each rank takes a consecutive slice, in rank order, as even
 * as the length allows (the core expects a minibatch's shares in rank order: docs/distributed.md).
 */

/** Rank `rank`'s slice `[first, end)` of `n` items over `size` ranks (empty when n < size for some). */
export function rankSlice(n: number, rank: number, size: number): [number, number] {
  return [Math.floor((rank * n) / size), Math.floor(((rank + 1) * n) / size)];
}
