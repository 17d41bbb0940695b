/**
 * Reading dataset records from JSONL, JSON and Parquet files, with the line (row) number of every
 * record so that a bad record can be named. Parquet goes through hyparquet (pure JS), loaded on
 * first use; its 64-bit integers become numbers when exact, else decimal strings.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { extname } from "node:path";

/** A record and where it came from. */
export interface SourcedRecord {
  file: string;
  /** 1-based line (JSONL), element (JSON array) or row (Parquet) number. */
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

/** Collects records, stopping at or counting the malformed ones. */
class Collector {
  readonly records: SourcedRecord[] = [];
  skipped = 0;
  firstProblem: string | undefined;

  constructor(
    private readonly file: string,
    private readonly badLines: BadLines,
  ) {}

  add(line: number, value: unknown, parseProblem?: string): void {
    const problem =
      parseProblem ??
      (value === null || typeof value !== "object" || Array.isArray(value) ? "expected a JSON object" : undefined);
    if (problem === undefined) {
      this.records.push({ file: this.file, line, value: value as Record<string, unknown> });
      return;
    }
    const where = `${this.file}:${line}: ${problem}`;
    if (this.badLines === "error") throw new DatasetError(where);
    this.skipped++;
    this.firstProblem ??= where;
  }

  result(): RecordsResult {
    return {
      records: this.records,
      skipped: this.skipped,
      ...(this.firstProblem ? { firstProblem: this.firstProblem } : {}),
    };
  }
}

function readJson(file: string, text: string, out: Collector): void {
  // A .json file holds one array of records, or JSON Lines (as the datasets library accepts).
  if (extname(file).toLowerCase() === ".json" && text.trimStart().startsWith("[")) {
    let rows: unknown;
    try {
      rows = JSON.parse(text);
    } catch (e) {
      throw new DatasetError(`${file}: not valid JSON (${(e as Error).message})`);
    }
    (rows as unknown[]).forEach((row, i) => {
      out.add(i + 1, row);
    });
    return;
  }
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.add(i + 1, JSON.parse(line));
    } catch (e) {
      if (e instanceof DatasetError) throw e;
      out.add(i + 1, undefined, `not valid JSON (${(e as Error).message})`);
    }
  });
}

async function readParquet(file: string, out: Collector): Promise<void> {
  const { asyncBufferFromFile, parquetReadObjects } = await import("hyparquet");
  let rows: Record<string, unknown>[];
  try {
    rows = (await parquetReadObjects({ file: await asyncBufferFromFile(file) })) as Record<string, unknown>[];
  } catch (e) {
    throw new DatasetError(`${file}: not a readable Parquet file (${(e as Error).message})`);
  }
  rows.forEach((row, i) => {
    out.add(i + 1, plain(row));
  });
}

/** Reads the records of a `.jsonl`, `.json` or `.parquet` file, with their line numbers. */
export async function readSourcedRecords(file: string, badLines: BadLines = "error"): Promise<RecordsResult> {
  if (!existsSync(file)) throw new DatasetError(`${file}: no such file`);
  if (statSync(file).isDirectory())
    throw new DatasetError(`${file}: is a directory, expected a .jsonl or .parquet file`);
  const ext = extname(file).toLowerCase();
  if (![".jsonl", ".json", ".parquet"].includes(ext)) {
    throw new DatasetError(
      `${file}: unsupported format ${ext || "(no extension)"}; expected .jsonl, .json or .parquet`,
    );
  }
  const out = new Collector(file, badLines);
  if (ext === ".parquet") await readParquet(file, out);
  else readJson(file, readFileSync(file, "utf8"), out);
  const result = out.result();
  if (result.records.length === 0) {
    throw new DatasetError(
      `${file}: no records${result.skipped ? ` (all ${result.skipped} lines were malformed: ${result.firstProblem})` : ""}`,
    );
  }
  return result;
}

/** The records of a dataset file as plain objects; a malformed record fails naming its file and line. */
export async function readRecords(file: string): Promise<Record<string, unknown>[]> {
  return (await readSourcedRecords(file)).records.map((r) => r.value);
}
