/**
 * Incremental reading of a JSONL file that another process appends to: each `read()` returns the
 * whole lines added since the last call. A line without its newline yet is kept for the next call,
 * so a reader never sees a torn record; a file that was replaced (another inode) or shrank starts
 * over.
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

import { RunDirError } from "./errors.js";

/** What one {@link JsonlTail.read} found. */
export interface TailChunk {
  /** The parsed objects of the new whole lines, in file order, with their 1-based line numbers. */
  lines: JsonlLine[];
  /** True when the file shrank since the last read: the caller drops what it had and starts over. */
  reset: boolean;
}

const CHUNK_BYTES = 1 << 20;

/** One object of a JSONL file and its 1-based line number. */
export interface JsonlLine {
  line: number;
  value: Record<string, unknown>;
}

/** Follows one JSONL file; a missing file reads as empty until it appears. */
export class JsonlTail {
  private offset = 0;
  private pending: Buffer = Buffer.alloc(0);
  private lineNumber = 0;
  /** Inode of the file read last: another inode means the file was replaced. */
  private inode = -1;

  constructor(readonly path: string) {}

  /** The whole lines appended since the last call; bad JSON names the file and line. */
  read(): TailChunk {
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { lines: [], reset: this.restart() };
      throw new RunDirError(`${this.path}: cannot be read (${(e as Error).message})`);
    }
    try {
      const { size, ino } = fstatSync(fd);
      const replaced = (this.inode !== -1 && ino !== this.inode) || size < this.offset;
      this.inode = ino;
      const reset = replaced ? this.restart() : false;
      const parts: Buffer[] = [this.pending];
      while (this.offset < size) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, size - this.offset));
        const n = readSync(fd, buffer, 0, buffer.length, this.offset);
        if (n === 0) break;
        parts.push(buffer.subarray(0, n));
        this.offset += n;
      }
      const bytes = Buffer.concat(parts);
      const end = bytes.lastIndexOf(0x0a);
      this.pending = Buffer.from(bytes.subarray(end + 1));
      return { lines: end < 0 ? [] : this.parse(bytes.subarray(0, end).toString("utf8")), reset };
    } finally {
      closeSync(fd);
    }
  }

  private restart(): boolean {
    const hadData = this.offset > 0;
    this.offset = 0;
    this.pending = Buffer.alloc(0);
    this.lineNumber = 0;
    return hadData;
  }

  private parse(text: string): JsonlLine[] {
    const out: JsonlLine[] = [];
    for (const line of text.split("\n")) {
      this.lineNumber += 1;
      if (line.trim() === "") continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (e) {
        throw new RunDirError(`${this.path}:${this.lineNumber}: not valid JSON (${(e as Error).message})`);
      }
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw new RunDirError(`${this.path}:${this.lineNumber}: expected a JSON object`);
      }
      out.push({ line: this.lineNumber, value: value as Record<string, unknown> });
    }
    return out;
  }
}
