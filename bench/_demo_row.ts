// The demo row of `npm run bench` (bench/all.ts): `npm run demo`'s recipe (examples/fashion_mnist.ts:
// MobileNetV2 from nsfwjs's ImageNet weights and from a random init, Fashion-MNIST, a head-only
// epoch then an all-layers epoch, evaluated after each) timed in graft and in PyTorch 1.13
// (bench/demo_torch.py), both sides starting from the state dicts and recipe graft writes
// (bench/_demo_graft.ts). Each side runs once, one after the other, in its own environment; the
// row gives both wall times per run and phase and both test accuracies. The accuracies are close,
// not equal: threaded kernels sum in their own order, so the sides drift apart over the steps.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChildProcess as run } from './_proc.ts';

export interface DemoRowOptions {
  root: string;
  quick: boolean;
  threads: number;
  python: string;
  hasPython: boolean;
  graftEnv: NodeJS.ProcessEnv;
  torchEnv: NodeJS.ProcessEnv;
  line: (s: string) => void;
}

interface RunTimes {
  seconds: number;
  accuracy: number;
  phases: number[];
}

/** graft's side from its run folder: metrics.jsonl's start and epoch records (each after its evaluation). */
function graftTimes(runDir: string): RunTimes | undefined {
  const file = join(runDir, 'metrics.jsonl');
  if (!existsSync(file)) return undefined;
  const recs = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);
  const start = recs.find((r) => r.type === 'run' && r.event === 'start')?.time as number | undefined;
  const epochs = recs.filter((r) => r.type === 'epoch');
  if (start === undefined || !epochs.length) return undefined;
  const times = [start, ...epochs.map((r) => r.time as number)];
  const phases = epochs.map((_, i) => times[i + 1]! - times[i]!);
  const acc = Number(epochs[epochs.length - 1]!.eval?.accuracy ?? Number.NaN);
  return { seconds: times[times.length - 1]! - start, accuracy: acc, phases };
}

const fmt = (v: number | undefined, d = 1) => (v !== undefined && Number.isFinite(v) ? v.toFixed(d) : '-');

export async function demoRow(o: DemoRowOptions): Promise<void> {
  // the bench's size: half the demo's data (2,000 / 1,000 images at 64 px), a couple of minutes for
  // both sides on 2 cores; GRAFT_BENCH_DEMO_TRAIN / _TEST / _SIZE change it (4000 / 2000 / 64: the demo)
  const e = process.env;
  const sizes = o.quick
    ? { DEMO_TRAIN: '64', DEMO_TEST: '32', DEMO_SIZE: '32' }
    : {
        DEMO_TRAIN: e.GRAFT_BENCH_DEMO_TRAIN ?? '2000',
        DEMO_TEST: e.GRAFT_BENCH_DEMO_TEST ?? '1000',
        DEMO_SIZE: e.GRAFT_BENCH_DEMO_SIZE ?? '64',
      };
  const label = `demo recipe ${sizes.DEMO_TRAIN}/${sizes.DEMO_TEST} img ${sizes.DEMO_SIZE}px`;
  const dir = mkdtempSync(join(tmpdir(), 'graft-bench-demo-'));
  try {
    const tsx = ['--import', 'tsx'];
    const prep = await run(
      process.execPath,
      [...tsx, join(o.root, 'bench', '_demo_graft.ts'), dir],
      { ...o.graftEnv, ...sizes },
      o.root,
    );
    const canTorch = o.hasPython && prep.code === 0;
    if (o.hasPython && prep.code !== 0)
      o.line(`${label}: bench/_demo_graft.ts failed: ${prep.out.slice(-2).join(' | ')}`);
    const runs = join(dir, 'runs');
    const g = await run(
      process.execPath,
      [...tsx, join(o.root, 'examples', 'fashion_mnist.ts')],
      { ...o.graftEnv, ...sizes, DEMO_OUT: runs, GRAFT_NUM_THREADS: String(o.threads) },
      o.root,
    );
    const t = canTorch
      ? await run(o.python, [join(o.root, 'bench', 'demo_torch.py'), dir, String(o.threads)], o.torchEnv, o.root)
      : undefined;
    const gRuns = { pretrained: graftTimes(join(runs, 'pretrained')), scratch: graftTimes(join(runs, 'scratch')) };
    const tJson = t?.out.filter((l) => l.startsWith('{')).pop();
    const tRes = tJson
      ? (JSON.parse(tJson) as {
          runs: Record<string, { seconds: number; accuracy: number; phases: { seconds: number }[] }>;
        })
      : undefined;
    const tRuns: Record<string, RunTimes | undefined> = {};
    for (const name of ['pretrained', 'scratch']) {
      const r = tRes?.runs[name];
      tRuns[name] = r && { seconds: r.seconds, accuracy: r.accuracy, phases: r.phases.map((p) => p.seconds) };
    }
    const gTotal = (gRuns.pretrained?.seconds ?? Number.NaN) + (gRuns.scratch?.seconds ?? Number.NaN);
    const tTotal = (tRuns.pretrained?.seconds ?? Number.NaN) + (tRuns.scratch?.seconds ?? Number.NaN);
    const status = [
      g.code ? `graft exit ${g.code}: ${g.out.slice(-1)[0]}` : '',
      t?.code ? `PyTorch exit ${t.code}: ${t.out.slice(-1)[0]}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    o.line(
      `${`${label}: training wall time`.padEnd(44)} ${`${fmt(gTotal)} s`.padStart(26)} ${`${fmt(tTotal)} s`.padStart(26)} ${'s'.padEnd(6)} ${fmt(tTotal / gTotal, 2).padStart(18)}   others ${fmt(g.load.others, 2)} / ${t ? fmt(t.load.others, 2) : '-'} cores; both runs, head + all-layers epochs with their evaluations${status ? `; ${status}` : ''}`,
    );
    for (const name of ['pretrained', 'scratch'] as const) {
      const gr = gRuns[name];
      const tr = tRuns[name];
      const phases = (r: RunTimes | undefined) => (r ? r.phases.map((s) => fmt(s)).join(' + ') : '-');
      o.line(
        `${`  ${name}: head + all layers`.padEnd(44)} ${`${phases(gr)} s`.padStart(26)} ${`${phases(tr)} s`.padStart(26)} ${'s'.padEnd(6)} ${fmt(gr && tr ? tr.seconds / gr.seconds : undefined, 2).padStart(18)}   test accuracy graft ${fmt(gr?.accuracy, 4)} / PyTorch ${fmt(tr?.accuracy, 4)} (same start and data order; close, not bit-equal)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
