/** TensorBoard event files: CRC-32C vectors, and a written file decoded back record by record. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { crc32c, maskedCrc32c } from "../../../ts/src/logging/crc32c.js";
import { readEvents, TensorBoardWriter, truncateEventsAfterStep } from "../../../ts/src/logging/tensorboard.js";

const tmp = mkdtempSync(join(tmpdir(), "lgpo-tb-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("TensorBoard writer", () => {
  it("computes CRC-32C test vectors (RFC 3720 B.4)", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    // TensorFlow's mask: rotate right 15, add 0xa282ead8.
    const c = crc32c(Buffer.from("a"));
    expect(maskedCrc32c(Buffer.from("a"))).toBe(((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0);
  });

  it("writes scalars that decode back with their steps, tags and float32 values", () => {
    const w = new TensorBoardWriter(tmp, 1_700_000_000_000);
    w.scalars(1, { "reward/mean": 0.25, "gate/gated_frac": 0.125, skip: "text", nan: Number.NaN }, 1_700_000_001_000);
    w.scalars(2, { "reward/mean": 1 / 3 }, 1_700_000_002_500);
    const events = readEvents(w.path);
    expect(events[0]).toMatchObject({ wallTime: 1_700_000_000, step: 0, fileVersion: "brain.Event:2" });
    expect(events[1]).toEqual({
      wallTime: 1_700_000_001,
      step: 1,
      scalars: { "reward/mean": 0.25, "gate/gated_frac": 0.125 },
    });
    expect(events[2]!.step).toBe(2);
    expect(events[2]!.scalars["reward/mean"]).toBe(Math.fround(1 / 3));
    // A flipped byte is caught by the record checksums.
    const bytes = readFileSync(w.path);
    bytes[bytes.length - 6]! ^= 0xff;
    writeFileSync(join(tmp, "bad"), bytes);
    expect(() => readEvents(join(tmp, "bad"))).toThrow(/bad data checksum/);
  });

  it("cuts a file back to a step on resume, dropping a torn last record", () => {
    const dir = mkdtempSync(join(tmp, "cut-"));
    const w = new TensorBoardWriter(dir, 1_700_000_000_000);
    for (let step = 1; step <= 5; step++) w.scalars(step, { loss: step / 10 });
    writeFileSync(w.path, Buffer.concat([readFileSync(w.path), Buffer.from([9, 0, 0, 0, 0, 0])])); // torn append
    expect(() => readEvents(w.path)).toThrow();
    truncateEventsAfterStep(w.path, 3);
    const events = readEvents(w.path);
    expect(events.map((e) => e.step)).toEqual([0, 1, 2, 3]);
    expect(events[0]!.fileVersion).toBe("brain.Event:2");
    expect(events[3]!.scalars.loss).toBeCloseTo(0.3, 6);
  });
});
