/**
 * Exact rational numbers on BigInt: the arithmetic of the Countdown verifier and solver, and of the
 * exact-number path of the math verifier. Always normalised: the denominator is positive and
 * gcd(num, den) = 1, so structural equality is numeric equality.
 */

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** An exact fraction `num / den` (den > 0, reduced). Immutable. */
export class Rational {
  readonly num: bigint;
  readonly den: bigint;

  private constructor(num: bigint, den: bigint) {
    this.num = num;
    this.den = den;
  }

  /** `num / den`, reduced; throws `RangeError` on a zero denominator. */
  static of(num: bigint | number, den: bigint | number = 1n): Rational {
    let n = BigInt(num);
    let d = BigInt(den);
    if (d === 0n) throw new RangeError("Rational with a zero denominator");
    if (d < 0n) {
      n = -n;
      d = -d;
    }
    const g = gcd(n, d);
    return g > 1n ? new Rational(n / g, d / g) : new Rational(n, d);
  }

  static readonly ZERO = Rational.of(0n);
  static readonly ONE = Rational.of(1n);

  /**
   * Parses an exact decimal literal: `-12`, `3.25`, `.5`, `7.` (no exponent, no separators).
   * Returns undefined when the text is not such a literal.
   */
  static parseDecimal(text: string): Rational | undefined {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
    if (!m) return undefined;
    const sign = m[1] === "-" ? -1n : 1n;
    const int = m[2] ?? "";
    const frac = m[3] ?? "";
    if (int.length === 0 && frac.length === 0) return undefined;
    const digits = BigInt((int || "0") + frac);
    return Rational.of(sign * digits, 10n ** BigInt(frac.length));
  }

  add(o: Rational): Rational {
    return Rational.of(this.num * o.den + o.num * this.den, this.den * o.den);
  }
  sub(o: Rational): Rational {
    return Rational.of(this.num * o.den - o.num * this.den, this.den * o.den);
  }
  mul(o: Rational): Rational {
    return Rational.of(this.num * o.num, this.den * o.den);
  }
  /** Division; undefined when dividing by zero (callers treat it as an invalid expression). */
  div(o: Rational): Rational | undefined {
    if (o.num === 0n) return undefined;
    return Rational.of(this.num * o.den, this.den * o.num);
  }
  neg(): Rational {
    return Rational.of(-this.num, this.den);
  }
  isZero(): boolean {
    return this.num === 0n;
  }
  isInteger(): boolean {
    return this.den === 1n;
  }
  equals(o: Rational): boolean {
    return this.num === o.num && this.den === o.den;
  }
  /** -1, 0 or 1. */
  compare(o: Rational): number {
    const d = this.num * o.den - o.num * this.den;
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  }
  /** Nearest double (may lose precision for huge values). */
  toNumber(): number {
    return Number(this.num) / Number(this.den);
  }
  toString(): string {
    return this.den === 1n ? this.num.toString() : `${this.num}/${this.den}`;
  }
}
