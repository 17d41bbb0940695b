/** Argument checks that name the offending argument, before anything crosses into Rust. */

/** Throws a `TypeError` naming `name` unless `value` is an array of token ids. */
export function assertTokenIds(value: unknown, name: string): asserts value is number[] {
  if (!Array.isArray(value) && !(value instanceof Uint32Array)) {
    throw new TypeError(`${name} must be an array of token ids, got ${describe(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    const id = value[i];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new TypeError(`${name}[${i}] must be a non-negative integer token id, got ${describe(id)}`);
    }
  }
}

/** Throws a `TypeError` naming `name` unless `value` is an array of finite numbers. */
export function assertNumbers(value: unknown, name: string): asserts value is number[] {
  if (!Array.isArray(value) && !(value instanceof Float32Array) && !(value instanceof Float64Array)) {
    throw new TypeError(`${name} must be an array of numbers, got ${describe(value)}`);
  }
  for (let i = 0; i < value.length; i++) {
    if (typeof value[i] !== "number" || !Number.isFinite(value[i])) {
      throw new TypeError(`${name}[${i}] must be a finite number, got ${describe(value[i])}`);
    }
  }
}

/** Throws a `TypeError` unless `value` is an array of rows as long as `lengths`. */
export function assertRows(value: unknown, name: string, lengths: number[]): asserts value is number[][] {
  if (!Array.isArray(value) || value.length !== lengths.length) {
    throw new TypeError(`${name} must have one row per sequence (${lengths.length}), got ${describe(value)}`);
  }
  value.forEach((row, i) => {
    assertNumbers(row, `${name}[${i}]`);
    if (row.length !== lengths[i]) {
      throw new TypeError(`${name}[${i}] has ${row.length} values for ${lengths[i]} response tokens`);
    }
  });
}

/** Throws a `TypeError` unless `value` is an array of boolean rows as long as `lengths`. */
export function assertFlagRows(value: unknown, name: string, lengths: number[]): asserts value is boolean[][] {
  if (!Array.isArray(value) || value.length !== lengths.length) {
    throw new TypeError(`${name} must have one row per sequence (${lengths.length}), got ${describe(value)}`);
  }
  value.forEach((row, i) => {
    if (!Array.isArray(row) || row.some((f) => typeof f !== "boolean")) {
      throw new TypeError(`${name}[${i}] must be an array of booleans, got ${describe(row)}`);
    }
    if (row.length !== lengths[i]) {
      throw new TypeError(`${name}[${i}] has ${row.length} values for ${lengths[i]} response tokens`);
    }
  });
}

export function describe(value: unknown): string {
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (value === null) return "null";
  if (typeof value === "string")
    return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
  return `${typeof value} ${String(value)}`;
}
