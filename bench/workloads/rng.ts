/**
 * A small deterministic PRNG (xorshift32) so every implementation in a bench
 * run sees the same request order, and two runs with the same seed are
 * comparable.
 */
export class Rng {
  private state: number;

  /** Seed must be a non-zero 32-bit integer (0 is mapped to a fixed constant). */
  constructor(seed: number) {
    this.state = (seed >>> 0) || 0x9e3779b9;
  }

  /** Next 32-bit unsigned value. */
  nextU32(): number {
    let x = this.state;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.state = x;
    return x;
  }

  /** Uniform integer in [0, n) for n <= 2^32 (multiply-shift, no modulo bias worth noting at bench sizes). */
  below(n: number): number {
    return Math.floor((this.nextU32() / 4294967296) * n);
  }
}
