/** Parsers of numeric CLI options that reject bad values with the option's name. */
import { InvalidArgumentError } from "commander";

export function integer(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer >= ${min}, got "${value}"`);
    return n;
  };
}

export function number(min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got "${value}"`);
    }
    return n;
  };
}

/** A positive integer, or `none` (returned as `false`). */
export function limitOrNone(value: string): number | false {
  return value === "none" ? false : integer(1)(value);
}

/** A comma-separated list of integers >= `min`. */
export function integerList(min: number) {
  return (value: string): number[] => {
    const parse = integer(min);
    const list = value.split(",").map((v) => parse(v.trim()));
    if (list.length === 0) throw new InvalidArgumentError(`expected a comma-separated list, got "${value}"`);
    return list;
  };
}
