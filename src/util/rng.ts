// A small seeded PRNG (xoshiro128**) that splits by keys: Rng.derive(seed, epoch, i) gives the same
// stream wherever it runs (main thread or a worker), so data order and augmentation never depend on
// scheduling. Not cryptographic; not torch's generator (values differ from PyTorch's).

const MASK32 = 0xffffffff;

// murmur3's finalizer: a good 32-bit avalanche for mixing keys into a seed
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Splits a non-negative integer (up to 2^53) or a string into 32-bit words. */
function words(k: number | string): number[] {
  if (typeof k === 'string') {
    const out = [k.length];
    for (let i = 0; i < k.length; i++) out.push(k.charCodeAt(i));
    return out;
  }
  if (!Number.isFinite(k)) throw new RangeError(`rng key must be finite, got ${k}`);
  const t = Math.trunc(k);
  const lo = t >>> 0;
  const hi = Math.floor(Math.abs(t) / 2 ** 32) >>> 0;
  return [lo, t < 0 ? hi ^ 0x80000000 : hi];
}

export type RngKey = number | string;

export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  /** the hash of the seed and keys this generator was derived from; fork() extends it */
  readonly key: number;

  constructor(seed: RngKey = 0, ...keys: RngKey[]) {
    let h = 0x9e3779b9;
    for (const k of [seed, ...keys])
      for (const w of words(k)) h = fmix((h ^ fmix(Math.imul(w, 0xcc9e2d51) >>> 0)) + 0x6b43a9b5) >>> 0;
    this.key = h;
    // splitmix32 expands the hash into the 128-bit state (never all zero)
    let x = h;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      return fmix(x);
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next() | 1;
  }

  /** A generator for (seed, ...keys): the same numbers on every thread and every run. */
  static derive(seed: RngKey, ...keys: RngKey[]): Rng {
    return new Rng(seed, ...keys);
  }

  /** An independent child stream named by keys (does not advance this one). */
  fork(...keys: RngKey[]): Rng {
    return new Rng(this.key, ...keys);
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  random(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Uniform integer in [0, n), unbiased. */
  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`rng.int(n) needs an integer n >= 1, got ${n}`);
    if (n <= 2 ** 32) {
      const limit = 2 ** 32 - (2 ** 32 % n);
      for (;;) {
        const v = this.nextU32();
        if (v < limit) return v % n;
      }
    }
    return Math.floor(this.random() * n);
  }

  /** Uniform integer in [lo, hi) (torch.randint's bounds). */
  randint(lo: number, hi: number): number {
    return lo + this.int(hi - lo);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    let u = 0;
    while (u === 0) u = this.random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.random());
  }

  /** Shuffles in place (Fisher-Yates) and returns the array. */
  shuffle<T>(a: T[] | Int32Array | Uint32Array): typeof a {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i)) as number[];
  }

  /** The generator's state, for checkpoints. */
  getState(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  setState(s: readonly number[]): this {
    if (s.length !== 4 || s.every((v) => (v & MASK32) === 0))
      throw new RangeError('rng state must be 4 words, not all zero');
    [this.s0, this.s1, this.s2, this.s3] = s.map((v) => v >>> 0) as [number, number, number, number];
    return this;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
