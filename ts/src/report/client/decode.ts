/** Decoding of `EncodedLines` (base64 of gzip of byte-shuffled Float32 columns) in the browser, with no library. */
import type { EncodedLines } from "../page_data.js";

/** Decoded lines: one Float32Array view per key, NaN where a line has no value. */
export interface DecodedLines {
  from: number;
  lines: number;
  t0: number | null;
  columns: Map<string, Float32Array>;
  reset: boolean;
}

/** Inflates the gzip bytes with the platform's DecompressionStream (browsers and Node 18+). */
async function gunzip(bytes: Uint8Array): Promise<ArrayBuffer> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).arrayBuffer();
}

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Float `i`'s byte `b` comes from `b * count + i` (the inverse of `shuffleBytes` in metric_table.ts). */
export function unshuffleBytes(shuffled: Uint8Array): Uint8Array {
  const count = shuffled.length / 4;
  const out = new Uint8Array(shuffled.length);
  for (let b = 0; b < 4; b++) {
    const plane = b * count;
    for (let i = 0; i < count; i++) out[i * 4 + b] = shuffled[plane + i]!;
  }
  return out;
}

/** The columns of encoded lines. */
export async function decodeLines(encoded: EncodedLines): Promise<DecodedLines> {
  const flat = new Float32Array(unshuffleBytes(new Uint8Array(await gunzip(base64Bytes(encoded.data)))).buffer);
  const n = encoded.lines;
  if (flat.length !== n * encoded.keys.length) {
    throw new Error(`metrics data: expected ${n * encoded.keys.length} values, got ${flat.length}`);
  }
  const columns = new Map<string, Float32Array>();
  encoded.keys.forEach((key, k) => {
    columns.set(key, flat.subarray(k * n, (k + 1) * n));
  });
  return { from: encoded.from, lines: n, t0: encoded.t0, columns, reset: encoded.reset === true };
}
