/**
 * TensorBoard event files: scalars as `Event { wall_time, step, summary { value { tag,
 * simple_value } } }` protobufs in TFRecord framing (length, masked CRC-32C of the length, data,
 * masked CRC-32C of the data). No maintained Node writer exists, so this is a small encoder of the
 * two messages it needs, plus the decoder the tests use to read files back.
 * scripts/tensorboard/check_events.py checks a written file with TensorBoard's own reader.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

import { writeFileAtomic } from "../util/atomic_write.js";
import { maskedCrc32c } from "./crc32c.js";
import { TENSORBOARD_PREFIX } from "./run_layout.js";

// --- protobuf wire format: just what Event and Summary need ---

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

function tag(field: number, wireType: number): number[] {
  return varint(BigInt((field << 3) | wireType));
}

function lengthDelimited(field: number, payload: Uint8Array): number[] {
  return [...tag(field, 2), ...varint(BigInt(payload.length)), ...payload];
}

function double(field: number, value: number): number[] {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value);
  return [...tag(field, 1), ...b];
}

function float(field: number, value: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatLE(value);
  return [...tag(field, 5), ...b];
}

/** `Summary.Value { tag = 1; simple_value = 2 }`. */
function summaryValue(name: string, value: number): Uint8Array {
  return Uint8Array.from([...lengthDelimited(1, Buffer.from(name, "utf8")), ...float(2, value)]);
}

/** `Event { wall_time = 1; step = 2; file_version = 3; summary = 5 }`. */
function event(
  wallTime: number,
  step: number,
  body: { fileVersion?: string; scalars?: [string, number][] },
): Uint8Array {
  const bytes = [...double(1, wallTime), ...tag(2, 0), ...varint(BigInt(step))];
  if (body.fileVersion !== undefined) bytes.push(...lengthDelimited(3, Buffer.from(body.fileVersion, "utf8")));
  if (body.scalars !== undefined) {
    const summary = body.scalars.flatMap(([name, value]) => lengthDelimited(1, summaryValue(name, value)));
    bytes.push(...lengthDelimited(5, Uint8Array.from(summary)));
  }
  return Uint8Array.from(bytes);
}

/** TFRecord framing of one record. */
export function frameRecord(data: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(data.length), 0);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([header, data, footer]);
}

/** Appends scalars to one event file in a run directory. */
export class TensorBoardWriter {
  /** The event file's path. */
  readonly path: string;

  constructor(dir: string, now = Date.now()) {
    const seconds = Math.floor(now / 1000);
    this.path = join(dir, `${TENSORBOARD_PREFIX}${seconds}.${hostname()}.${process.pid}`);
    writeFileSync(this.path, frameRecord(event(now / 1000, 0, { fileVersion: "brain.Event:2" })));
  }

  /** Writes every finite number of `values` as a scalar at `step` (one event, one record). */
  scalars(step: number, values: Record<string, unknown>, now = Date.now()): void {
    const scalars = Object.entries(values).filter(
      (e): e is [string, number] => typeof e[1] === "number" && Number.isFinite(e[1]),
    );
    if (scalars.length === 0) return;
    appendFileSync(this.path, frameRecord(event(now / 1000, step, { scalars })));
  }
}

// --- decoding, for tests and tools ---

/** One decoded event: its wall time, step, file version (first event) and scalars. */
export interface DecodedEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars: Record<string, number>;
}

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.buf[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wireType}`);
  }
}

function decodeValue(buf: Buffer): [string, number] {
  const r = new Reader(buf);
  let name = "";
  let value = Number.NaN;
  while (!r.done()) {
    const key = Number(r.varint());
    if (key === (1 << 3) + 2) name = r.bytes().toString("utf8");
    else if (key === (2 << 3) + 5) {
      value = r.buf.readFloatLE(r.pos);
      r.pos += 4;
    } else r.skip(key & 7);
  }
  return [name, value];
}

function decodeEvent(buf: Buffer): DecodedEvent {
  const r = new Reader(buf);
  const out: DecodedEvent = { wallTime: 0, step: 0, scalars: {} };
  while (!r.done()) {
    const key = Number(r.varint());
    const field = key >> 3;
    if (field === 1 && (key & 7) === 1) {
      out.wallTime = r.buf.readDoubleLE(r.pos);
      r.pos += 8;
    } else if (field === 2 && (key & 7) === 0) out.step = Number(BigInt.asIntN(64, r.varint()));
    else if (field === 3 && (key & 7) === 2) out.fileVersion = r.bytes().toString("utf8");
    else if (field === 5 && (key & 7) === 2) {
      const s = new Reader(r.bytes());
      while (!s.done()) {
        const k = Number(s.varint());
        if (k === (1 << 3) + 2) {
          const [name, value] = decodeValue(s.bytes());
          out.scalars[name] = value;
        } else s.skip(k & 7);
      }
    } else r.skip(key & 7);
  }
  return out;
}

/**
 * Drops the events after `step` from an event file (a resumed run logs those steps again), and a
 * torn last record (a crash mid-append); rewrites the file atomically only when it changes.
 */
export function truncateEventsAfterStep(path: string, step: number): void {
  const buf = readFileSync(path);
  const kept: Buffer[] = [];
  let changed = false;
  for (let pos = 0; pos < buf.length; ) {
    const whole = pos + 12 <= buf.length && pos + 16 + Number(buf.readBigUInt64LE(pos)) <= buf.length;
    if (!whole) {
      changed = true;
      break;
    }
    const length = Number(buf.readBigUInt64LE(pos));
    const record = buf.subarray(pos, pos + 16 + length);
    if (decodeEvent(record.subarray(12, 12 + length)).step <= step) kept.push(record);
    else changed = true;
    pos += 16 + length;
  }
  if (!changed) return;
  writeFileAtomic(path, Buffer.concat(kept));
}

/** Reads every event of a file, checking each record's CRCs. */
export function readEvents(path: string): DecodedEvent[] {
  const buf = readFileSync(path);
  const out: DecodedEvent[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const length = Number(buf.readBigUInt64LE(pos));
    if (buf.readUInt32LE(pos + 8) !== maskedCrc32c(buf.subarray(pos, pos + 8))) {
      throw new Error(`${path}: bad length checksum at byte ${pos}`);
    }
    const data = buf.subarray(pos + 12, pos + 12 + length);
    if (buf.readUInt32LE(pos + 12 + length) !== maskedCrc32c(data)) {
      throw new Error(`${path}: bad data checksum at byte ${pos}`);
    }
    out.push(decodeEvent(data));
    pos += 16 + length;
  }
  return out;
}
