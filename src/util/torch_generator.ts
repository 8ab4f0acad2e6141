// libtorch's CPU generator (at::mt19937, seeded as torch.Generator().manual_seed(seed)) and the
// randperm it drives, in plain TypeScript: torch's DistributedSampler order without touching
// libtorch's global generator, in any thread. Checked against torch 1.13's own output.

const N = 624;
const M = 397;

/** at::mt19937: the 32-bit Mersenne Twister, seeded from the low 32 bits of the seed as torch does. */
export class TorchGenerator {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed: number | bigint = 67280421310721) {
    const s = BigInt(seed);
    if (s < 0n) throw new RangeError(`generator seed must be >= 0, got ${seed}`);
    this.state[0] = Number(s & 0xffffffffn);
    for (let j = 1; j < N; j++) {
      const prev = this.state[j - 1]!;
      const x = prev ^ (prev >>> 30);
      // 1812433253 * x + j (mod 2^32), split to stay exact in float64
      this.state[j] = (Math.imul(1812433253, x) + j) >>> 0;
    }
  }

  /** The next 32-bit output (CPUGeneratorImpl::random()). */
  random(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i]! & 0x80000000) | (s[(i + 1) % N]! & 0x7fffffff);
      s[i] = s[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}

/** torch.randperm(n, generator=torch.Generator().manual_seed(seed)) on the CPU (torch 1.13's swaps). */
export function torchRandperm(n: number, seed: number | bigint): number[] {
  const g = new TorchGenerator(seed);
  const r = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < n - 1; i++) {
    const z = g.random() % (n - i);
    const sav = r[i]!;
    r[i] = r[z + i]!;
    r[z + i] = sav;
  }
  return r;
}
