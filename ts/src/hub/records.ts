/** The rows of a dataset file (JSONL, JSON or Parquet) as plain objects, for the dataset loaders. */
import { readFileSync } from "node:fs";

import { HubError } from "./errors.js";

/** JSON-friendly values: 64-bit integers become numbers when exact, else decimal strings. */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(value)
      : value.toString();
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object" && !(value instanceof Date) && !(value instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HubError("bad_data", `${where}: expected a JSON object per record`);
  }
  return value as Record<string, unknown>;
}

function jsonLines(text: string, path: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new HubError("bad_data", `${path}:${i + 1}: not valid JSON (${(error as Error).message})`);
    }
    out.push(asRecord(value, `${path}:${i + 1}`));
  });
  return out;
}

/**
 * The records of `path`: one per line of `.jsonl`; the array of a `.json` file (or its lines when
 * it is JSON Lines, as the datasets library also accepts); every row of a `.parquet` file, with
 * 64-bit integers as numbers. Bad content fails naming the file and line.
 */
export async function readRecords(path: string): Promise<Record<string, unknown>[]> {
  if (/\.parquet$/i.test(path)) {
    const { asyncBufferFromFile, parquetReadObjects } = await import("hyparquet"); // loaded on first use
    let rows: Record<string, unknown>[];
    try {
      rows = await parquetReadObjects({ file: await asyncBufferFromFile(path) });
    } catch (error) {
      throw new HubError("bad_data", `${path}: not a readable Parquet file (${(error as Error).message})`);
    }
    return rows.map((row) => plain(row) as Record<string, unknown>);
  }
  const text = readFileSync(path, "utf8");
  if (/\.json$/i.test(path) && text.trimStart().startsWith("[")) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new HubError("bad_data", `${path}: not valid JSON (${(error as Error).message})`);
    }
    return (value as unknown[]).map((v, i) => asRecord(v, `${path}[${i}]`));
  }
  return jsonLines(text, path);
}
