// Head-only epochs with frozen-prefix feature caching against PyTorch's naive frozen training, in
// one run with the sides taking turns. Both train ResNet-18's fc (10 classes) over the same number
// of in-memory 3xSxS images with SGD momentum 0.9, shuffled batches, the backbone frozen with its
// BatchNorm in eval mode. PyTorch (/usr/bin/python3) runs the backbone under no_grad every epoch,
// as a user writes it; graft's trainer runs it in the first epoch and trains fc from the cached
// 512-float rows after. In-memory data leaves decoding out of PyTorch's epochs, so the ratio is a
// lower bound for image folders.
// Usage: node --import tsx bench/frozen_cache.ts
//   GRAFT_BENCH_THREADS=2 GRAFT_BENCH_N=512 GRAFT_BENCH_SIZE=112 GRAFT_BENCH_BATCH=32
//   GRAFT_BENCH_EPOCHS=4 GRAFT_BENCH_REPEATS=3 GRAFT_BENCH_JSON=1 (adds one JSON line)
import { DataLoader, TensorDataset } from '../src/data/index.ts';
import { FeatureCache, PhaseRunner } from '../src/finetune/index.ts';
import * as models from '../src/models/index.ts';
import { manualSeed, randint, randn, setNumThreads, torchVersion } from '../src/tensor/index.ts';
import { fit } from '../src/train/index.ts';
import { startTorchSide } from './_torch_side.ts';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const threads = env('GRAFT_BENCH_THREADS', 2);
const N = env('GRAFT_BENCH_N', 512);
const SIZE = env('GRAFT_BENCH_SIZE', 112);
const BATCH = env('GRAFT_BENCH_BATCH', 32);
const EPOCHS = Math.max(2, env('GRAFT_BENCH_EPOCHS', 4));
const repeats = env('GRAFT_BENCH_REPEATS', 3);
setNumThreads(threads);

manualSeed(0);
const x = randn([N, 3, SIZE, SIZE]).keep();
const y = randint(0, 10, [N]).keep();

/** One graft run of EPOCHS epochs: seconds of each (the first fills the cache). */
async function graftRun(): Promise<number[]> {
  manualSeed(0);
  const model = models.create('resnet18', { numClasses: 10 });
  const runner = new PhaseRunner(model, {
    optimizer: { type: 'SGD', lr: 0.01, momentum: 0.9 },
    phases: [{ epochs: EPOCHS, freeze: { freeze: '*', train: 'fc' } }],
  });
  const cache = new FeatureCache(model);
  const loader = new DataLoader(new TensorDataset(x, y), { batchSize: BATCH, shuffle: true });
  const seconds: number[] = [];
  let t0 = 0;
  await fit({
    model,
    runner,
    train: cache.source(loader, 'train'),
    forward: cache.forward(),
    progress: false,
    callbacks: [
      {
        beforeEpoch: () => {
          t0 = performance.now();
        },
        afterEpoch: () => {
          seconds.push((performance.now() - t0) / 1000);
        },
      },
    ],
  });
  const st = cache.status('train');
  if (st.state !== 'cached') throw new Error(`the cache did not serve the later epochs: ${st.reason ?? st.state}`);
  cache.dispose();
  runner.release();
  model.dispose();
  return seconds;
}

const torch = await startTorchSide(
  'frozen_cache_torch.py',
  [threads, N, SIZE, BATCH].map(String),
  'python3-torch python3-torchvision',
);
const best = { fill: Infinity, cached: Infinity, torch: Infinity };
const min = (a: number[]) => Math.min(...a);
for (let r = 0; r < repeats; r++) {
  const g = await graftRun();
  best.fill = Math.min(best.fill, g[0]!);
  best.cached = Math.min(best.cached, min(g.slice(1)));
  if (typeof torch !== 'string') best.torch = Math.min(best.torch, min((await torch.ask('epochs', EPOCHS)).seconds));
}
if (typeof torch !== 'string') torch.close();

const note = typeof torch === 'string' ? torch : torch.note;
const ms = (s: number) => `${(s * 1000).toFixed(1)} ms`;
console.log(
  `ResNet-18 fc only, ${N} images 3x${SIZE}x${SIZE} in memory, batch ${BATCH}, SGD momentum 0.9; graft on libtorch ${torchVersion()}, ${threads} threads; ${note}; best of ${repeats} runs of ${EPOCHS} epochs`,
);
console.log(`graft epoch 1 (fills the cache):     ${ms(best.fill)}`);
console.log(`graft epochs 2..${EPOCHS} (from the cache):  ${ms(best.cached)}`);
if (Number.isFinite(best.torch)) {
  console.log(`PyTorch naive frozen epoch:           ${ms(best.torch)}`);
  console.log(`ratio (PyTorch epoch / graft cached epoch): ${(best.torch / best.cached).toFixed(1)}x (target >= 20)`);
}
// for bench/all.ts: one machine-readable line
if (process.env.GRAFT_BENCH_JSON)
  console.log(
    JSON.stringify({
      bench: 'frozen_cache',
      graftFillMs: best.fill * 1000,
      graftCachedMs: best.cached * 1000,
      torchMs: Number.isFinite(best.torch) ? best.torch * 1000 : null,
      ratio: Number.isFinite(best.torch) ? best.torch / best.cached : null,
      n: N,
      size: SIZE,
      batch: BATCH,
      threads,
    }),
  );
