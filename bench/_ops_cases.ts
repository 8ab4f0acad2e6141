// The per-op dispatch cases, graft's side (bench/ops.ts, bench/all.ts); bench/ops_torch.py has the
// same cases in PyTorch. Small tensors, so the time is the call, not the kernel's arithmetic.
import { F, ones, randn, type Tensor, tidy } from '../src/tensor/index.ts';

export const OP_CASES = {
  add: 'add [4]',
  add_scalar: 'add scalar [4]',
  linear: 'linear [8,64]x[32,64]',
  mul_sum_backward: 'mul+sum+backward [4,4]',
  add_no_tidy: 'add [4] outside tidy',
} as const;
export type OpCase = keyof typeof OP_CASES;

/** Wall-clock and process CPU microseconds per call (CPU time: what a loaded machine does not inflate). */
export interface PerCall {
  us: number;
  cpu_us: number;
}

async function timed(n: number, run: () => void | Promise<void>): Promise<PerCall> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await run();
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  const c = process.cpuUsage(c0);
  return { us, cpu_us: (c.user + c.system) / n };
}

/** n calls of `fn` inside tidy() blocks of 100 (graft's idiom for hot loops). */
function inTidy(fn: () => void): (n: number) => Promise<PerCall> {
  return (n) => {
    const block = Math.min(100, n);
    return timed(n, () => {
      for (let done = 0; done < n; done += block)
        tidy(() => {
          for (let i = 0; i < block; i++) fn();
        });
    });
  };
}

/** A runner of n calls of CASE; it answers microseconds per call. */
export function opCase(name: string): (n: number) => Promise<PerCall> {
  const a = ones([4]).keep();
  const b = ones([4]).keep();
  const x = randn([8, 64]).keep();
  const w = randn([32, 64]).keep();
  const bias = randn([32]).keep();
  const xr = randn([4, 4], { requiresGrad: true }).keep();
  switch (name as OpCase) {
    case 'add':
      return inTidy(() => a.add(b));
    case 'add_scalar':
      return inTidy(() => a.add(1));
    case 'linear':
      return inTidy(() => F.linear(x, w, bias));
    case 'mul_sum_backward':
      return inTidy(() => xr.mul(xr).sum().backward());
    case 'add_no_tidy':
      // results are left to GC, as code without tidy() does. Python frees each result when the next
      // replaces it, inside its timed loop; here the freeing happens when V8 collects and then runs
      // the finalizers between event-loop turns, so the timed span takes turns every 1,000 calls
      // and counts them: the GC and the frees are part of the cost
      return (n) =>
        timed(n, async () => {
          let last: Tensor | undefined;
          for (let done = 0; done < n; ) {
            const end = Math.min(n, done + 1000);
            for (; done < end; done++) last = a.add(b);
            await new Promise((r) => setImmediate(r));
          }
          void last;
        });
    default:
      throw new Error(`unknown op case ${name}: ${Object.keys(OP_CASES).join(', ')}`);
  }
}
