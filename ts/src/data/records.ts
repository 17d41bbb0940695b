/**
 * Reading dataset records from JSONL and Parquet files, with the line (row) number of every record
 * so that a bad record can be named. Parquet goes through hyparquet (pure JS, no native code).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";
import { parquetReadObjects } from "hyparquet";

/** A record and where it came from. */
export interface SourcedRecord {
  file: string;
  /** 1-based line (JSONL) or row (Parquet) number. */
  line: number;
  value: Record<string, unknown>;
}

/** A dataset that cannot be used; the message names the file (and line). */
export class DatasetError extends Error {
  override readonly name = "DatasetError";
}

/** What to do with a malformed record: stop (`error`, the default) or drop it and count it (`skip`). */
export type BadLines = "error" | "skip";

/** Records of a file plus the number of malformed lines that were skipped. */
export interface RecordsResult {
  records: SourcedRecord[];
  skipped: number;
  /** The first skipped line's problem, for the warning. */
  firstProblem?: string;
}

function readJsonl(file: string, badLines: BadLines): RecordsResult {
  const records: SourcedRecord[] = [];
  let skipped = 0;
  let firstProblem: string | undefined;
  readFileSync(file, "utf8")
    .split("\n")
    .forEach((text, i) => {
      if (text.trim() === "") return;
      let value: unknown;
      let problem: string | undefined;
      try {
        value = JSON.parse(text);
        if (value === null || typeof value !== "object" || Array.isArray(value)) problem = "expected a JSON object";
      } catch (e) {
        problem = `not valid JSON (${(e as Error).message})`;
      }
      if (problem !== undefined) {
        if (badLines === "error") throw new DatasetError(`${file}:${i + 1}: ${problem}`);
        skipped++;
        firstProblem ??= `${file}:${i + 1}: ${problem}`;
        return;
      }
      records.push({ file, line: i + 1, value: value as Record<string, unknown> });
    });
  return { records, skipped, ...(firstProblem ? { firstProblem } : {}) };
}

async function readParquet(file: string): Promise<RecordsResult> {
  const bytes = readFileSync(file);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  let rows: Record<string, unknown>[];
  try {
    rows = (await parquetReadObjects({ file: buffer })) as Record<string, unknown>[];
  } catch (e) {
    throw new DatasetError(`${file}: not a readable Parquet file (${(e as Error).message})`);
  }
  // Parquet integers may come back as BigInt; datasets hold small numbers.
  const plain = (v: unknown): unknown => (typeof v === "bigint" ? Number(v) : Array.isArray(v) ? v.map(plain) : v);
  const records = rows.map((row, i) => ({
    file,
    line: i + 1,
    value: Object.fromEntries(Object.entries(row).map(([k, v]) => [k, plain(v)])),
  }));
  return { records, skipped: 0 };
}

/** Reads the records of a `.jsonl`/`.json` (one object per line) or `.parquet` file. */
export async function readRecords(file: string, badLines: BadLines = "error"): Promise<RecordsResult> {
  if (!existsSync(file)) throw new DatasetError(`${file}: no such file`);
  if (statSync(file).isDirectory())
    throw new DatasetError(`${file}: is a directory, expected a .jsonl or .parquet file`);
  const ext = extname(file).toLowerCase();
  if (![".jsonl", ".json", ".parquet"].includes(ext)) {
    throw new DatasetError(`${file}: unsupported format ${ext || "(no extension)"}; expected .jsonl or .parquet`);
  }
  const result = ext === ".parquet" ? await readParquet(file) : readJsonl(file, badLines);
  if (result.records.length === 0) {
    throw new DatasetError(
      `${file}: no records${result.skipped ? ` (all ${result.skipped} lines were malformed: ${result.firstProblem})` : ""}`,
    );
  }
  return result;
}
