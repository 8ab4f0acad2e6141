// ResNet-18 fine-tune steps through graft's Trainer against the same loop in PyTorch
// (/usr/bin/python3), taking turns in one run: batch 16x3x112x112, SGD momentum 0.9, 10 classes.
//   full:     every parameter trains
//   frozen:   all but fc have requiresGrad false, so backward stops at fc
//   features: the backbone runs under noGrad in eval mode, then fc trains on its output
// Usage: node --import tsx bench/train.ts   (GRAFT_BENCH_THREADS=2, GRAFT_BENCH_REPEATS=6)
// The PyTorch child runs with PyTorch's defaults: none of graft's OpenMP/malloc settings reach it
// (bench/_side.ts torchSideEnv). `npm run bench` (bench/all.ts) runs the same rows with load measured.
import { setNumThreads, torchVersion } from '../src/tensor/index.ts';
import { BATCH, graftSide, type Mode, SIZE } from './_resnet_graft.ts';
import { startTorchSide } from './_torch_side.ts';

const threads = Number(process.env.GRAFT_BENCH_THREADS ?? 2);
const repeats = Number(process.env.GRAFT_BENCH_REPEATS ?? 6);
setNumThreads(threads);
const WARM = 2;
const MODES: [Mode, string, number][] = [
  ['full', 'full fine-tune', 3],
  ['frozen', 'frozen backbone', 6],
  ['features', 'feature extraction', 6],
];

/** The PyTorch side: images per second of MODE over STEPS steps. */
async function torchSide(): Promise<
  { run(mode: Mode, steps: number): Promise<number>; close(): void; note: string } | string
> {
  const side = await startTorchSide('train_torch.py', [String(threads)], 'python3-torch python3-torchvision');
  if (typeof side === 'string') return side;
  return { ...side, run: async (mode, steps) => (await side.ask(mode, steps)).img_s };
}

const torch = await torchSide();
const best: Record<Mode, { graft: number; torch: number }> = {
  full: { graft: 0, torch: 0 },
  frozen: { graft: 0, torch: 0 },
  features: { graft: 0, torch: 0 },
};
const ours = new Map(MODES.map(([m]) => [m, graftSide(m)] as const));
for (const [m] of MODES) {
  await ours.get(m)!(WARM);
  if (typeof torch !== 'string') await torch.run(m, 0);
}
// turns: each side runs every mode `repeats` short times; the best of each is kept, since other load
// on the machine only ever slows a run down
for (let r = 0; r < repeats; r++)
  for (const [m, , steps] of MODES) {
    if (typeof torch !== 'string') best[m].torch = Math.max(best[m].torch, await torch.run(m, steps));
    best[m].graft = Math.max(best[m].graft, await ours.get(m)!(steps));
  }
if (typeof torch !== 'string') torch.close();

const note = typeof torch === 'string' ? torch : torch.note;
console.log(
  `ResNet-18, batch ${BATCH}x3x${SIZE}x${SIZE}, SGD momentum 0.9, 10 classes; graft on libtorch ${torchVersion()}, ${threads} threads; ${note}; OMP_WAIT_POLICY=${process.env.OMP_WAIT_POLICY}; best of ${repeats}`,
);
console.log(`${'mode'.padEnd(22)}${'graft img/s'.padStart(13)}${'torch img/s'.padStart(13)}${'ratio'.padStart(8)}`);
for (const [m, label] of MODES) {
  const b = best[m];
  const ratio = b.torch ? (b.graft / b.torch).toFixed(2) : '-';
  console.log(
    `${label.padEnd(22)}${b.graft.toFixed(1).padStart(13)}${(b.torch ? b.torch.toFixed(1) : '-').padStart(13)}${ratio.padStart(8)}`,
  );
}
console.log('ratio = graft / PyTorch images per second (higher is better; target >= 1.0)');
