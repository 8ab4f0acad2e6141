// Data-parallel throughput: images/s of ResNet-18 training steps (64x64 random images, batch 8 per
// process, SGD momentum 0.9, 10 classes) for 1 process x 2 threads and 2 processes x 1 thread on
// loopback Gloo, graft (fit / fitDistributed with DataParallel) against torch's
// DistributedDataParallel from /usr/bin/python3 (bench/ddp_torch.py). The four set-ups take turns
// in one run; each number is the median over the repeats of the timed steps after a warm-up.
// Usage: npm run bench:ddp   (GRAFT_BENCH_STEPS=20, GRAFT_BENCH_WARMUP=3, GRAFT_BENCH_REPEATS=3)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DataParallel, envFromProcess, fitDistributed, freePort, initProcessGroup } from '../src/dist/index.ts';
import * as models from '../src/models/index.ts';
import { SGD } from '../src/optim/index.ts';
import { manualSeed, randint, randn, setNumThreads, torchVersion } from '../src/tensor/index.ts';
import { type Callback, type FitOptions, fit } from '../src/train/index.ts';

const BATCH = 8;
const SIZE = 64;
const HERE = dirname(fileURLToPath(import.meta.url));

/** One process of a set-up: trains steps + warm batches, rank 0 prints {"ips": ...}. */
async function worker(threads: number, steps: number, warm: number): Promise<void> {
  setNumThreads(threads);
  const env = envFromProcess();
  const world = env?.worldSize ?? 1;
  manualSeed(0);
  const model = models.create('resnet18', { numClasses: 10 });
  manualSeed(env?.rank ?? 0);
  const x = randn([BATCH, 3, SIZE, SIZE]);
  const y = randint(0, 10, [BATCH]);
  let t0 = 0;
  let t1 = 0;
  const clock: Callback = {
    afterBatch: (t) => {
      if (t.batchIndex === warm - 1) t0 = performance.now();
      t1 = performance.now();
    },
  };
  const o: FitOptions = {
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 }),
    train: Array.from({ length: steps + warm }, () => ({ input: x, target: y })),
    epochs: 1,
    progress: false,
    callbacks: [clock],
  };
  if (env && world > 1) {
    const pg = await initProcessGroup({ ...env, timeoutMs: 120_000 });
    await fitDistributed(o, { pg, ddp: new DataParallel(model, pg) });
    await pg.destroy();
  } else await fit(o);
  if ((env?.rank ?? 0) === 0) console.log(JSON.stringify({ ips: (steps * BATCH * world) / ((t1 - t0) / 1000) }));
}

type Side = 'graft' | 'torch';

/** Runs one set-up (`procs` processes of `threads` threads) and returns rank 0's images/s. */
async function setup(side: Side, procs: number, threads: number, steps: number, warm: number): Promise<number> {
  const port = await freePort();
  const cmd =
    side === 'graft'
      ? [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), 'worker']
      : [process.env.GRAFT_BENCH_PYTHON ?? '/usr/bin/python3', join(HERE, 'ddp_torch.py')];
  const results = await Promise.all(
    Array.from({ length: procs }, (_, rank) => {
      const env: Record<string, string> = {
        ...(process.env as Record<string, string>),
        OMP_NUM_THREADS: String(threads),
        GRAFT_NUM_THREADS: String(threads),
      };
      if (procs > 1)
        Object.assign(env, {
          RANK: String(rank),
          WORLD_SIZE: String(procs),
          LOCAL_RANK: String(rank),
          LOCAL_WORLD_SIZE: String(procs),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
        });
      const p = spawn(cmd[0]!, [...cmd.slice(1), String(threads), String(steps), String(warm)], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => {
        out += String(d);
      });
      p.stderr.on('data', (d) => {
        err += String(d);
      });
      return new Promise<string>((resolve, reject) =>
        p.on('exit', (code) =>
          code === 0
            ? resolve(out)
            : reject(new Error(`${side} rank ${rank} exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`)),
        ),
      );
    }),
  );
  const line = results[0]!.trim().split('\n').pop()!;
  return (JSON.parse(line) as { ips: number }).ips;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const steps = Number(process.env.GRAFT_BENCH_STEPS ?? 20);
  const warm = Number(process.env.GRAFT_BENCH_WARMUP ?? 3);
  const repeats = Number(process.env.GRAFT_BENCH_REPEATS ?? 3);
  const python = process.env.GRAFT_BENCH_PYTHON ?? '/usr/bin/python3';
  const withTorch = existsSync(python);
  const setups: [string, number, number][] = [
    ['1 process x 2 threads', 1, 2],
    ['2 processes x 1 thread', 2, 1],
  ];
  console.log(
    `ResNet-18, ${SIZE}x${SIZE}, batch ${BATCH} per process, SGD; ${steps} timed steps after ${warm}, median of ${repeats}; libtorch ${torchVersion()}, Gloo on loopback`,
  );
  if (!withTorch)
    console.log(`torch column skipped: ${python} not found (apt-get install python3-torch python3-torchvision)`);
  const got = new Map<string, number[]>();
  for (let r = 0; r < repeats; r++)
    for (const [name, procs, threads] of setups)
      for (const side of withTorch ? (['graft', 'torch'] as const) : (['graft'] as const)) {
        const ips = await setup(side, procs, threads, steps, warm);
        const key = `${side} ${name}`;
        got.set(key, [...(got.get(key) ?? []), ips]);
        console.error(`  ${key}: ${ips.toFixed(1)} img/s`);
      }
  const m = (side: Side, name: string) => median(got.get(`${side} ${name}`) ?? [Number.NaN]);
  console.log('');
  console.log(
    `${'set-up'.padEnd(24)} ${'graft img/s'.padStart(12)} ${'torch img/s'.padStart(12)} ${'graft/torch'.padStart(12)}`,
  );
  for (const [name] of setups) {
    const g = m('graft', name);
    const t = m('torch', name);
    console.log(
      `${name.padEnd(24)} ${g.toFixed(1).padStart(12)} ${t.toFixed(1).padStart(12)} ${(g / t).toFixed(2).padStart(12)}`,
    );
  }
  const [one, two] = setups.map(([name]) => name) as [string, string];
  console.log(
    `2 processes / 1 process: graft ${(m('graft', two) / m('graft', one)).toFixed(2)}, torch ${(m('torch', two) / m('torch', one)).toFixed(2)}`,
  );
}

if (process.argv[2] === 'worker') {
  const [threads, steps, warm] = process.argv.slice(3).map(Number) as [number, number, number];
  await worker(threads, steps, warm);
} else await main();
