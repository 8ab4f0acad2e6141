// Allocator and OpenMP settings side by side: ResNet-18 full fine-tune steps through graft's Trainer
// (batch 16x3x112x112, SGD momentum 0.9) in a fresh process per setting, since both are fixed when
// libtorch loads. Per step: minor page faults, voluntary / involuntary context switches and time.
// Page faults and context switches are counts, so they hold on a busy machine; time does not.
// Usage: node --import tsx bench/alloc.ts [--steps 6] [--load N] [--only name,name] [--workload shapes]
//   --load N  runs N busy-looping processes beside each setting (contention from other jobs)
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Setting {
  name: string;
  env: Record<string, string>;
}
// GRAFT_ALLOCATOR / GRAFT_MALLOC / OMP_WAIT_POLICY / GOMP_SPINCOUNT as docs/performance.md describes;
// an empty value means "unset" for the child
const SETTINGS: Setting[] = [
  { name: 'arena', env: { GRAFT_ALLOCATOR: 'arena', GRAFT_MALLOC: 'training' } },
  { name: 'glibc-default', env: { GRAFT_ALLOCATOR: 'malloc', GRAFT_MALLOC: 'default' } },
  { name: 'mallopt', env: { GRAFT_ALLOCATOR: 'malloc', GRAFT_MALLOC: 'training' } },
  { name: 'caching', env: { GRAFT_ALLOCATOR: 'caching', GRAFT_MALLOC: 'default' } },
  { name: 'caching+mallopt', env: { GRAFT_ALLOCATOR: 'caching', GRAFT_MALLOC: 'training' } },
  { name: 'omp-passive', env: { OMP_WAIT_POLICY: 'PASSIVE', GOMP_SPINCOUNT: '' } },
  { name: 'omp-spin-1k', env: { OMP_WAIT_POLICY: '', GOMP_SPINCOUNT: '1000' } },
  { name: 'omp-spin-5k', env: { OMP_WAIT_POLICY: '', GOMP_SPINCOUNT: '5000' } },
  { name: 'omp-spin-30k', env: { OMP_WAIT_POLICY: '', GOMP_SPINCOUNT: '30000' } },
  { name: 'omp-active', env: { OMP_WAIT_POLICY: 'ACTIVE', GOMP_SPINCOUNT: '' } },
];

interface Result {
  minflt: number;
  nvcsw: number;
  nivcsw: number;
  ms: number;
  rssMiB: number;
  setup: string;
}

/**
 * Shapes that vary (batches of other sizes, other sequence lengths): each iteration allocates buffers
 * of seeded random sizes from 64 KiB to 40 MiB and frees them, keeping every 10th iteration's first
 * one alive for a while (state made mid-run). RSS at the end shows what each setting holds on to.
 */
async function shapesChild(iterations: number): Promise<void> {
  const t = await import('../src/tensor/index.ts');
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const kept: { dispose(): void }[] = [];
  const once = () => {
    const batch = Array.from({ length: 8 }, () => t.empty([Math.floor(2 ** (16 + rand() * 9.3) / 4)]).fill_(1));
    return batch;
  };
  for (let i = 0; i < 3; i++) for (const b of once()) b.dispose();
  const r0 = process.resourceUsage();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const batch = once();
    if (i % 10 === 0) kept.push(batch.shift()!);
    if (kept.length > 20) kept.shift()!.dispose();
    for (const b of batch) b.dispose();
  }
  const ms = (performance.now() - t0) / iterations;
  const r1 = process.resourceUsage();
  const s = t.runtimeSettings();
  const per = (k: keyof typeof r0) => ((r1[k] as number) - (r0[k] as number)) / iterations;
  console.log(
    JSON.stringify({
      minflt: per('minorPageFault'),
      nvcsw: per('voluntaryContextSwitches'),
      nivcsw: per('involuntaryContextSwitches'),
      ms,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
      setup: `${s.allocator.mode} malloc=${s.malloc.mode}; RSS at the end (not max)`,
    }),
  );
}

async function child(steps: number): Promise<void> {
  const { default: models } = await import('../src/models/index.ts').then((m) => ({ default: m }));
  const { SGD } = await import('../src/optim/index.ts');
  const t = await import('../src/tensor/index.ts');
  const { Trainer } = await import('../src/train/index.ts');
  t.setNumThreads(Number(process.env.GRAFT_BENCH_THREADS ?? 2));
  t.manualSeed(0);
  const model = models.create('resnet18', { numClasses: 10 });
  const x = t.randn([16, 3, 112, 112]);
  const y = t.randint(0, 10, [16]);
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const fit = (n: number) =>
    new Trainer({ model, optimizer, train: Array.from({ length: n }, () => ({ input: x, target: y })) }).fit(1);
  await fit(2); // warm-up: the first steps fault everything in whatever the setting
  const r0 = process.resourceUsage();
  const t0 = performance.now();
  await fit(steps);
  const ms = (performance.now() - t0) / steps;
  const r1 = process.resourceUsage();
  const per = (k: keyof typeof r0) => ((r1[k] as number) - (r0[k] as number)) / steps;
  const s = t.runtimeSettings();
  const result: Result = {
    minflt: per('minorPageFault'),
    nvcsw: per('voluntaryContextSwitches'),
    nivcsw: per('involuntaryContextSwitches'),
    ms,
    rssMiB: r1.maxRSS / 1024,
    setup: `${s.allocator.mode} malloc=${s.malloc.mode} omp=${s.omp.waitPolicy ?? '-'}/${s.omp.spinCount ?? '-'}`,
  };
  console.log(JSON.stringify(result));
}

function runSetting(setting: Setting, steps: number, workload: string): Promise<Result> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const [k, v] of Object.entries(setting.env)) env[k] = v === '' ? undefined : v;
  return new Promise((ok, fail) => {
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--steps', String(steps), '--workload', workload],
      { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d) => {
      out += String(d);
    });
    p.on('exit', (code) =>
      code === 0 ? ok(JSON.parse(out.trim().split('\n').pop()!)) : fail(new Error(`${setting.name} exited ${code}`)),
    );
  });
}

const { values } = parseArgs({
  options: {
    child: { type: 'boolean' },
    steps: { type: 'string', default: '6' },
    load: { type: 'string', default: '0' },
    only: { type: 'string' },
    workload: { type: 'string', default: 'resnet' },
  },
});
const steps = Number(values.steps);
const workload = values.workload === 'shapes' ? 'shapes' : 'resnet';
if (values.child) await (workload === 'shapes' ? shapesChild(steps) : child(steps));
else {
  const only = values.only?.split(',');
  const chosen = SETTINGS.filter((s) => !only || only.includes(s.name));
  const load = Number(values.load);
  const busy = Array.from({ length: load }, () =>
    spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore', detached: false }),
  );
  const loadavg = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim();
  const what =
    workload === 'shapes'
      ? `varying shapes: ${steps} iterations of 8 buffers from 64 KiB to 40 MiB`
      : `ResNet-18 full fine-tune, 16x3x112x112, ${steps} steps after 2 warm-up`;
  console.log(`${what}; busy processes beside: ${load}; /proc/loadavg ${loadavg}`);
  console.log(
    `${'setting'.padEnd(17)}${'minflt/step'.padStart(12)}${'vcsw/step'.padStart(11)}${'ivcsw/step'.padStart(12)}${'ms/step'.padStart(9)}${'maxRSS MiB'.padStart(12)}  in effect`,
  );
  try {
    for (const s of chosen) {
      const r = await runSetting(s, steps, workload);
      console.log(
        `${s.name.padEnd(17)}${r.minflt.toFixed(0).padStart(12)}${r.nvcsw.toFixed(0).padStart(11)}${r.nivcsw.toFixed(0).padStart(12)}${r.ms.toFixed(0).padStart(9)}${r.rssMiB.toFixed(0).padStart(12)}  ${r.setup}`,
      );
    }
  } finally {
    for (const b of busy) b.kill();
  }
}
