// Per-op dispatch time in graft against PyTorch from /usr/bin/python3, same libtorch ops, same run.
// Usage: npm run bench:ops  (GRAFT_BENCH_THREADS=2 by default)
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { F, ones, randn, setNumThreads, tidy, torchVersion } from '../src/index.ts';

const threads = Number(process.env.GRAFT_BENCH_THREADS ?? 2);
setNumThreads(threads);

// Loops run inside tidy() in blocks of 100 calls, graft's idiom for hot loops: results are
// freed at the end of each block, as Python's refcounting frees them at once.
function perCall(fn: () => void, n: number, warm = Math.max(1, Math.floor(n / 10))): number {
  const block = Math.min(100, n);
  const runBlocks = (count: number) => {
    for (let done = 0; done < count; done += block)
      tidy(() => {
        for (let i = 0; i < block; i++) fn();
      });
  };
  runBlocks(warm);
  const t0 = process.hrtime.bigint();
  runBlocks(n);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

const a = ones([4]);
const b = ones([4]);
const x = randn([8, 64]);
const w = randn([32, 64]);
const bias = randn([32]);
const xr = randn([4, 4], { requiresGrad: true });
const ci = randn([16, 64, 56, 56]);
const cw = randn([64, 64, 3, 3], { requiresGrad: true });

const ours: Record<string, number> = {
  'add [4]': perCall(() => a.add(b), 200000),
  'linear [8,64]x[32,64]': perCall(() => F.linear(x, w, bias), 100000),
  'mul+sum+backward [4,4]': perCall(() => xr.mul(xr).sum().backward(), 20000),
  'conv2d fwd+bwd [16,64,56,56]': perCall(
    () => {
      F.conv2d(ci, cw, undefined, { padding: 1 }).sum().backward();
      cw.zeroGrad();
    },
    10,
    2,
  ),
};

const python = '/usr/bin/python3';
const script = join(dirname(fileURLToPath(import.meta.url)), 'ops_torch.py');
let theirs: Record<string, number> | undefined;
let note = '';
if (existsSync(python)) {
  try {
    const out = execFileSync(python, [script, String(threads)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const parsed = JSON.parse(out.trim().split('\n').pop()!);
    theirs = parsed.us;
    note = `PyTorch ${parsed.torch} (${python}), ${parsed.threads} threads`;
  } catch (e) {
    note = `PyTorch column skipped: ${(e as Error).message.split('\n')[0]}`;
  }
} else note = `PyTorch column skipped: ${python} not found (apt-get install python3-torch)`;

console.log(`graft on libtorch ${torchVersion()}, ${threads} threads; ${note}`);
console.log(`${'op'.padEnd(32)}${'graft us'.padStart(12)}${'torch us'.padStart(12)}${'ratio'.padStart(8)}`);
for (const [k, v] of Object.entries(ours)) {
  const t = theirs?.[k];
  const ratio = t ? (v / t).toFixed(2) : '-';
  console.log(`${k.padEnd(32)}${v.toFixed(2).padStart(12)}${(t?.toFixed(2) ?? '-').padStart(12)}${ratio.padStart(8)}`);
}
console.log('ratio = graft / PyTorch time per call (lower is better; target <= 0.8 dispatch, <= 1.0 conv step)');
