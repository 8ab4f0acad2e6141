// Compression: latency and size of float32 against int8 (dynamic Linear layers; static ResNet-18
// with fused convs) and of a ResNet-18 shrunk by channel pruning, in graft and in PyTorch's
// torch.ao.quantization (/usr/bin/python3) on the same machine, threads and sizes.
//   node --import tsx bench/compress.ts [--tiny] [--threads N]
// Latency: median ms of one forward (no grad) over `runs` runs after a warm-up.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resnet18 } from '../src/models/index.ts';
import { Linear, type Module, ReLU, Sequential } from '../src/nn/index.ts';
import { lnShrink } from '../src/prune/index.ts';
import * as quant from '../src/quant/index.ts';
import { manualSeed, noGrad, randn, setNumThreads, type Tensor, tidy } from '../src/tensor/index.ts';

const tiny = process.argv.includes('--tiny');
const ti = process.argv.indexOf('--threads');
const threads = ti > 0 ? Number(process.argv[ti + 1]) : 1;
const CFG = tiny
  ? { hidden: 64, layers: 2, tokens: 16, image: 32, batch: 2, calibration: 2, shrink: 0.5, runs: 5 }
  : { hidden: 768, layers: 4, tokens: 128, image: 224, batch: 8, calibration: 8, shrink: 0.5, runs: 20 };
setNumThreads(threads);

function ms(model: Module, x: Tensor): number {
  return noGrad(() => {
    tidy(() => void model.call(x));
    const times: number[] = [];
    for (let i = 0; i < CFG.runs; i++) {
      const t0 = performance.now();
      tidy(() => void model.call(x));
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    return times[times.length >> 1]!;
  });
}
const bytes = (m: Module) => quant.stateDictBytes(m).total;

type Row = { ms: number; bytes: number };
const graft: Record<string, Record<string, Row>> = {};

manualSeed(0);
const layers: Module[] = [];
for (let i = 0; i < CFG.layers; i++)
  layers.push(new Linear(CFG.hidden, 4 * CFG.hidden), new ReLU(), new Linear(4 * CFG.hidden, CFG.hidden));
const mlp = new Sequential(...layers).eval();
let x = randn([CFG.tokens, CFG.hidden]);
graft.dynamic = { fp32: { ms: ms(mlp, x), bytes: bytes(mlp) } };
quant.quantizeDynamic(mlp);
graft.dynamic.int8 = { ms: ms(mlp, x), bytes: bytes(mlp) };

const net = resnet18({ numClasses: 10 }).eval();
x = randn([CFG.batch, 3, CFG.image, CFG.image]);
graft.static = { fp32: { ms: ms(net, x), bytes: bytes(net) } };
const calib = Array.from({ length: CFG.calibration }, () => randn([CFG.batch, 3, CFG.image, CFG.image]));
const q = quant.quantizeStatic(net, calib, { backend: 'fbgemm', activation: 'minmax' });
graft.static.int8 = { ms: ms(q, x), bytes: bytes(q) };

const small = resnet18({ numClasses: 10 }).eval();
const report = lnShrink(small, { amount: CFG.shrink });
graft.shrunk = { fp32: { ms: ms(small, x), bytes: bytes(small) } };

const python = process.env.GRAFT_BENCH_PYTHON ?? '/usr/bin/python3';
let torch: any;
if (existsSync(python)) {
  const script = join(dirname(fileURLToPath(import.meta.url)), 'compress_torch.py');
  const r = spawnSync(python, [script, String(threads), JSON.stringify(CFG)], { encoding: 'utf8' });
  if (r.status !== 0) console.log(`PyTorch column skipped: ${r.stderr.trim().split('\n').pop()}`);
  else torch = JSON.parse(r.stdout.trim().split('\n').pop()!);
} else console.log(`PyTorch column skipped: ${python} not found`);

const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
const f = (v: number | undefined) => (v === undefined ? '-' : v.toFixed(2));
console.log(
  `${tiny ? 'tiny settings; ' : ''}${threads} thread(s), quantized engine ${quant.engines().current}${torch ? `, PyTorch ${torch.torch} (${torch.engine})` : ''}`,
);
console.log(
  `MLP ${CFG.layers}x(Linear ${CFG.hidden}->${4 * CFG.hidden}->${CFG.hidden}) on ${CFG.tokens} tokens; ResNet-18 on ${CFG.batch}x3x${CFG.image}x${CFG.image}; shrink ${CFG.shrink} of each block's conv1 (${report.parametersBefore} -> ${report.parametersAfter} parameters)`,
);
console.log(
  `${'model'.padEnd(22)} ${'graft ms'.padStart(9)} ${'torch ms'.padStart(9)} ${'graft/torch'.padStart(11)} ${'graft size'.padStart(11)} ${'torch size'.padStart(11)}`,
);
const rows: [string, string, string][] = [
  ['MLP fp32', 'dynamic', 'fp32'],
  ['MLP int8 (dynamic)', 'dynamic', 'int8'],
  ['ResNet-18 fp32', 'static', 'fp32'],
  ['ResNet-18 int8 (static)', 'static', 'int8'],
  ['ResNet-18 shrunk fp32', 'shrunk', 'fp32'],
];
for (const [label, k, v] of rows) {
  const g = graft[k]![v]!;
  const t = torch?.[k]?.[v] as Row | undefined;
  console.log(
    `${label.padEnd(22)} ${f(g.ms).padStart(9)} ${f(t?.ms).padStart(9)} ${(t ? `${(g.ms / t.ms).toFixed(2)}x` : '-').padStart(11)} ${mib(g.bytes).padStart(11)} ${(t ? mib(t.bytes) : '-').padStart(11)}`,
  );
}
const ratio = (a: Row, b: Row) => `${(a.ms / b.ms).toFixed(2)}x faster, ${(a.bytes / b.bytes).toFixed(2)}x smaller`;
console.log(
  `graft int8 vs fp32: MLP ${ratio(graft.dynamic.fp32!, graft.dynamic.int8!)}; ResNet-18 ${ratio(graft.static.fp32!, graft.static.int8!)}`,
);
console.log(`graft shrunk vs full ResNet-18: ${ratio(graft.static.fp32!, graft.shrunk.fp32!)}`);
if (torch) {
  const T = torch as Record<string, Record<string, Row>>;
  console.log(
    `torch int8 vs fp32: MLP ${ratio(T.dynamic!.fp32!, T.dynamic!.int8!)}; ResNet-18 ${ratio(T.static!.fp32!, T.static!.int8!)}`,
  );
  console.log(`torch shrunk vs full ResNet-18: ${ratio(T.static!.fp32!, T.shrunk!.fp32!)}`);
}
