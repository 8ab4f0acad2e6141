// `npm run bench`: every row of graft's performance table against PyTorch (/usr/bin/python3) in one
// run, fair by construction:
//   - each side is its own long-lived process with its own environment: graft's worker sets graft's
//     OpenMP/malloc choices at load; the PyTorch side gets none of them (bench/_side.ts torchSideEnv)
//   - the sides take turns sample by sample (A B, then B A, ...), so drifting load hits both
//   - the load other processes put on the machine is measured during every sample (/proc/stat busy
//     time less the measured process's own) and printed next to each row
//   - the header names the machine, both sides' versions, threads, OpenMP and malloc settings
// Each row prints the graft / PyTorch speed ratio (> 1: graft faster) as the median of the turns'
// ratios with their min and max, and each side's median.
// Usage: node --import tsx bench/all.ts [--quick] [--only=resnet,ops,rss,data,frozen,demo]
//   GRAFT_BENCH_THREADS (2), GRAFT_BENCH_PYTHON (/usr/bin/python3), GRAFT_BENCH_TORCH_ENV (JSON: extra
//   environment for the PyTorch side). --quick: tiny sizes, one or two turns: a smoke test.
// This file loads no graft module itself: graft's load-time settings stay in graft's worker.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoRow } from './_demo_row.ts';
import { type LoadSample, machineLine, measureLoad, runChildProcess } from './_proc.ts';
import { type Side, startSide, torchSideEnv } from './_side.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const quick = process.argv.includes('--quick');
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const threads = Number(process.env.GRAFT_BENCH_THREADS ?? 2);
const python = process.env.GRAFT_BENCH_PYTHON ?? '/usr/bin/python3';
const graftEnv: NodeJS.ProcessEnv = { ...process.env };
const torchEnv = torchSideEnv(process.env);
const hasPython = existsSync(python);

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '-');

function graftWorker(): Promise<Side> {
  return startSide(
    process.execPath,
    ['--import', 'tsx', join(here, '_graft_worker.ts'), String(threads)],
    graftEnv,
    root,
  );
}
async function torchWorker(script: string): Promise<Side | undefined> {
  if (!hasPython) return undefined;
  try {
    return await startSide(python, [join(here, script), String(threads)], torchEnv, root);
  } catch (e) {
    console.log(`  PyTorch side ${script} did not start: ${(e as Error).message}`);
    return undefined;
  }
}

interface Sampled {
  value: number;
  answer: Record<string, any>;
  load: LoadSample;
}
async function sample(side: Side, mode: string, n: number, read: (a: Record<string, any>) => number): Promise<Sampled> {
  const m = measureLoad(() => [side.pid]);
  const a = await side.ask(mode, n);
  return { value: read(a), answer: a, load: m.end() };
}

interface SpeedRow {
  label: string;
  mode: string;
  n: number;
  unit: string;
  /** value to speed: img/s stays, microseconds become calls per microsecond */
  speed: (v: number) => number;
  read: (a: Record<string, any>) => number;
  /** a second line from the same samples (the dispatch rows' CPU time) */
  also?: { label: string; read: (a: Record<string, any>) => number };
}

const printed: string[] = [];
function line(s: string): void {
  console.log(s);
  printed.push(s);
}

/** Turns between the two sides over `rows`, then one printed line per row. */
async function speedRows(group: string, graft: Side, torch: Side | undefined, rows: SpeedRow[], repeats: number) {
  for (const r of rows) {
    // warm-up: first calls build models, fault memory in, start threads
    await graft.ask(r.mode, Math.max(1, Math.ceil(r.n / 4)));
    if (torch) await torch.ask(r.mode, Math.max(1, Math.ceil(r.n / 4)));
    const g: Sampled[] = [];
    const t: Sampled[] = [];
    for (let i = 0; i < repeats; i++) {
      const first = i % 2 === 0;
      if (torch && !first) t.push(await sample(torch, r.mode, r.n, r.read));
      g.push(await sample(graft, r.mode, r.n, r.read));
      if (torch && first) t.push(await sample(torch, r.mode, r.n, r.read));
    }
    const others = (xs: Sampled[]) => (xs.length ? fmt(median(xs.map((s) => s.load.others)), 2) : '-');
    printRow(
      `${group}: ${r.label}`,
      r,
      g.map((s) => s.value),
      t.map((s) => s.value),
      others(g),
      others(t),
    );
    if (r.also)
      printRow(
        `${group}: ${r.label} ${r.also.label}`,
        r,
        g.map((s) => r.also!.read(s.answer)),
        t.map((s) => r.also!.read(s.answer)),
        others(g),
        others(t),
      );
  }
}

/** One table line: each side's median (min..max), the median [min..max] of the turns' speed ratios. */
function printRow(label: string, r: SpeedRow, gv: number[], tv: number[], othersG: string, othersT: string): void {
  const ratios = gv.map((v, i) => (tv[i] !== undefined ? r.speed(v) / r.speed(tv[i]!) : Number.NaN));
  const spread = (v: number[]) =>
    v.length ? `${fmt(median(v))} (${fmt(Math.min(...v))}..${fmt(Math.max(...v))})` : '-';
  const ratio = tv.length ? `${fmt(median(ratios))} [${fmt(Math.min(...ratios))}..${fmt(Math.max(...ratios))}]` : '-';
  line(
    `${label.padEnd(44)} ${spread(gv).padStart(26)} ${spread(tv).padStart(26)} ${r.unit.padEnd(6)} ${ratio.padStart(18)}   others ${othersG} / ${othersT} cores`,
  );
}

async function resnet(): Promise<void> {
  const graft = await graftWorker();
  const torch = await torchWorker('train_torch.py');
  const steps = (s: number) => (quick ? 1 : s);
  const img = { unit: 'img/s', speed: (v: number) => v, read: (a: Record<string, any>) => a.img_s as number };
  await speedRows(
    'ResNet-18 16x3x112x112',
    graft,
    torch,
    [
      { label: 'full fine-tune step', mode: 'full', n: steps(3), ...img },
      { label: 'frozen backbone step', mode: 'frozen', n: steps(6), ...img },
      { label: 'feature-extraction step', mode: 'features', n: steps(6), ...img },
    ],
    quick ? 2 : 6,
  );
  graft.close();
  torch?.close();
}

async function ops(): Promise<void> {
  const graft = await graftWorker();
  const torch = await torchWorker('ops_torch.py');
  const us = {
    unit: 'us',
    speed: (v: number) => 1 / v,
    read: (a: Record<string, any>) => a.us as number,
    also: { label: '(CPU time)', read: (a: Record<string, any>) => a.cpu_us as number },
  };
  const n = quick ? 2000 : 50000;
  await speedRows(
    'dispatch',
    graft,
    torch,
    [
      { label: 'add [4] (in tidy)', mode: 'op:add', n, ...us },
      { label: 'add scalar [4] (in tidy)', mode: 'op:add_scalar', n, ...us },
      { label: 'linear [8,64]x[32,64] (in tidy)', mode: 'op:linear', n, ...us },
      { label: 'mul+sum+backward [4,4] (in tidy)', mode: 'op:mul_sum_backward', n: n / 5, ...us },
      { label: 'add [4] outside tidy', mode: 'op:add_no_tidy', n, ...us },
    ],
    quick ? 2 : 9,
  );
  graft.close();
  torch?.close();
}

// RSS growth: after a warm-up, `windows` windows of `steps` steps each; RSS is sampled every 20 steps
// and a window's level is the median of its samples, so where a GC lands within a window (the
// sawtooth of garbage and V8's heap) moves no reading. The row's value is the largest rise of that
// level from one window to the next, in % of the earlier; the levels are printed next to it (MB),
// for graft with V8's heap (heapTotal) at the same moments, which says what part of a rise is the
// JS heap resizing itself. The PyTorch side is measured the same way.
async function rss(): Promise<void> {
  const steps = quick ? 100 : 1000;
  const warm = quick ? 50 : 300;
  const windows = quick ? 2 : 3;
  const MB = 1024 * 1024;
  const levels = (answers: Record<string, any>[], key: string) => answers.map((a) => median(a[key] as number[]));
  const maxRise = (v: number[]) => Math.max(...v.slice(1).map((x, i) => ((x - v[i]!) / v[i]!) * 100));
  const mb = (v: number[]) => v.map((x) => (x / MB).toFixed(1)).join(' > ');
  let torchCell = '-';
  let torchLevels = '';
  const torch = await torchWorker('rss_torch.py');
  if (torch) {
    await torch.ask('rss:torch', warm);
    const answers: Record<string, any>[] = [];
    for (let w = 0; w < windows; w++) answers.push(await torch.ask('rss:torch', steps));
    torch.close();
    const lv = levels(answers, 'rss');
    torchCell = `${fmt(maxRise(lv))} %`;
    torchLevels = mb(lv);
  }
  for (const scenario of ['tidy', 'notidy', 'trainer']) {
    // a fresh process per scenario: each starts from the same state
    const graft = await graftWorker();
    await graft.ask(`rss:${scenario}`, warm);
    const answers: Record<string, any>[] = [];
    const loads: number[] = [];
    for (let w = 0; w < windows; w++) {
      const m = measureLoad(() => [graft.pid]);
      answers.push(await graft.ask(`rss:${scenario}`, steps));
      loads.push(m.end().others);
    }
    graft.close();
    const lv = levels(answers, 'rss');
    line(
      `${`RSS growth per ${steps} steps: ${scenario}`.padEnd(44)} ${`${fmt(maxRise(lv))} %`.padStart(26)} ${torchCell.padStart(26)} ${'%'.padEnd(6)} ${'target < 2 %'.padStart(18)}   others ${fmt(median(loads))} cores`,
    );
    line(
      `    window medians (MB): graft ${mb(lv)} (V8 heap ${mb(levels(answers, 'v8'))}); PyTorch ${torchLevels || '-'}`,
    );
  }
}

/** Runs a bench script of its own (another helper's) as a child; its stdout lines are returned. */
function runChild(args: string[], env: NodeJS.ProcessEnv): Promise<{ out: string[]; code: number; load: LoadSample }> {
  return runChildProcess(process.execPath, ['--import', 'tsx', ...args], env, root);
}

async function data(): Promise<void> {
  const n = quick ? 64 : 512;
  const repeats = quick ? 1 : 3;
  const code = `const m = await import(${JSON.stringify(join(here, 'data_loader.ts'))}); const r = await m.runDataBench({ n: ${n}, repeats: ${repeats}, threads: ${threads} }); console.log(JSON.stringify(r));`;
  const r = await runChild(['--input-type=module', '-e', code], graftEnv);
  const last = r.out.filter((l) => l.startsWith('{')).pop();
  if (!last) {
    line(`data loading: bench/data_loader.ts gave no result (exit ${r.code}): ${r.out.slice(-2).join(' | ')}`);
    return;
  }
  const res = JSON.parse(last) as {
    rows: { name: string; workers: number; graft: number; torch?: number; ratio?: number }[];
    note: string;
  };
  for (const row of res.rows)
    line(
      `${`data ${row.name}, workers ${row.workers}`.padEnd(44)} ${fmt(row.graft, 0).padStart(26)} ${(row.torch ? fmt(row.torch, 0) : '-').padStart(26)} ${'img/s'.padEnd(6)} ${(row.ratio ? fmt(row.ratio) : '-').padStart(18)}   others ${fmt(r.load.others)} cores (whole bench; best of ${repeats} turns)`,
    );
}

async function frozen(): Promise<void> {
  const script = join(here, 'frozen_cache.ts');
  if (!existsSync(script)) {
    line('frozen-cache epochs: bench/frozen_cache.ts is not there');
    return;
  }
  const sizes = quick
    ? { GRAFT_BENCH_N: '64', GRAFT_BENCH_SIZE: '64', GRAFT_BENCH_EPOCHS: '2', GRAFT_BENCH_REPEATS: '1' }
    : {};
  const r = await runChild([script], {
    ...graftEnv,
    ...sizes,
    GRAFT_BENCH_THREADS: String(threads),
    GRAFT_BENCH_JSON: '1',
  });
  const last = r.out.filter((l) => l.startsWith('{')).pop();
  if (!last) {
    line(`frozen-cache epochs: no result (exit ${r.code}): ${r.out.slice(-2).join(' | ')}`);
    return;
  }
  const j = JSON.parse(last) as { graftCachedMs: number; torchMs: number | null; ratio: number | null };
  line(
    `${'frozen-cache head-only epoch'.padEnd(44)} ${`${fmt(j.graftCachedMs, 1)} ms`.padStart(26)} ${(j.torchMs ? `${fmt(j.torchMs, 1)} ms` : '-').padStart(26)} ${'ms'.padEnd(6)} ${(j.ratio ? fmt(j.ratio, 1) : '-').padStart(18)}   others ${fmt(r.load.others)} cores (whole bench; target >= 20)`,
  );
}

async function demo(): Promise<void> {
  // graft's demo recipe and the same recipe in PyTorch from the same weights (bench/_demo_row.ts)
  await demoRow({ root, quick, threads, python, hasPython, graftEnv, torchEnv, line });
}

async function header(): Promise<void> {
  const g = await graftWorker();
  const t = await torchWorker('ops_torch.py');
  const gh = g.hello;
  console.log(`graft bench ${new Date().toISOString()}${quick ? ' (--quick: smoke test, numbers mean little)' : ''}`);
  console.log(`machine: ${machineLine()}; load average now ${(await import('node:os')).loadavg()[0]!.toFixed(2)}`);
  console.log(
    `graft: node ${process.version}, libtorch ${gh.torch}, ${gh.threads} threads; OpenMP ${JSON.stringify(gh.omp)}; malloc ${JSON.stringify(gh.malloc)}${gh.settings ? `; runtime ${JSON.stringify(gh.settings)}` : ''}`,
  );
  const pyOmp = Object.fromEntries(
    Object.entries(torchEnv).filter(([k]) => /^(OMP_|GOMP_|MALLOC_|GLIBC_TUNABLES)/.test(k)),
  );
  console.log(
    t
      ? `PyTorch: ${t.hello.torch} (${python}), ${t.hello.threads} threads; OpenMP/malloc environment ${JSON.stringify(pyOmp)} (empty: libgomp's and glibc's defaults)`
      : `PyTorch: not available (${python}); ratios are skipped`,
  );
  console.log(
    `${'row'.padEnd(44)} ${'graft median (min..max)'.padStart(26)} ${'PyTorch median (min..max)'.padStart(26)} ${'unit'.padEnd(6)} ${'ratio med [min..max]'.padStart(18)}   load by other processes (graft / PyTorch samples)`,
  );
  g.close();
  t?.close();
}

const sections: [string, () => Promise<void>][] = [
  ['resnet', resnet],
  ['ops', ops],
  ['rss', rss],
  ['data', data],
  ['frozen', frozen],
  ['demo', demo],
];
await header();
for (const [name, run] of sections) {
  if (only && !only.includes(name)) continue;
  try {
    await run();
  } catch (e) {
    line(`${name}: failed: ${(e as Error).message}`);
  }
}
console.log('ratio: graft speed / PyTorch speed (> 1: graft faster); dispatch target >= 1.25 (graft time <= 0.8x)');
