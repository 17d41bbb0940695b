/** The Rust core's committed golden fixtures, read from TypeScript. */
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { REPO_ROOT } from "./data_files.js";

export const FIXTURES = join(REPO_ROOT, "crates/lgpo-core/tests/fixtures");
export const TINY_TIED = join(FIXTURES, "tiny_tied");

/** A tensor of a safetensors file as a flat array with its shape (F32 and I64 only). */
export interface Tensor {
  shape: number[];
  data: number[];
}

/** Reads the tensors of a safetensors file (the format is an 8-byte header length, a JSON header, raw data). */
export function readSafetensors(path: string): Record<string, Tensor> {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const out: Record<string, Tensor> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [start, end] = info.data_offsets;
    const view = new DataView(bytes.buffer, bytes.byteOffset + base + start, end - start);
    const data: number[] = [];
    if (info.dtype === "F32") for (let i = 0; i < view.byteLength; i += 4) data.push(view.getFloat32(i, true));
    else if (info.dtype === "I64")
      for (let i = 0; i < view.byteLength; i += 8) data.push(Number(view.getBigInt64(i, true)));
    else continue;
    out[name] = { shape: info.shape, data };
  }
  return out;
}

/** Row `r` of a 2-D tensor. */
export function row(t: Tensor, r: number): number[] {
  const width = t.shape[1]!;
  return t.data.slice(r * width, (r + 1) * width);
}
