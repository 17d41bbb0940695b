/** Decoding of `EncodedLines` (base64 of gzip of Float32 columns) in the browser, with no library. */
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

/** The columns of encoded lines. */
export async function decodeLines(encoded: EncodedLines): Promise<DecodedLines> {
  const flat = new Float32Array(await gunzip(base64Bytes(encoded.data)));
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
