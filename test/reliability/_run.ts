// The reliability drills' fixtures: a tiny in-memory dataset (IDX files, as Fashion-MNIST ships),
// a tiny recipe over it (cifar_net, 4 steps an epoch), `graft train` in a child process (for real
// signals and kill -9) or in this process (cheaper), and readers for the run folder.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';
import { readCheckpoint } from '../../src/train/index.ts';
import { capture, ROOT, textData, tinyBert } from '../recipe/_helpers.ts';

export { capture, readJsonl, rmDir, tmpDir, withTmp } from '../recipe/_helpers.ts';

const BIN = join(ROOT, 'bin', 'graft.mjs');

function idxFile(path: string, dims: number[], data: Uint8Array): void {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt8(0x08, 2); // unsigned byte
  head.writeUInt8(dims.length, 3);
  for (const [i, d] of dims.entries()) head.writeUInt32BE(d, 4 + 4 * i);
  writeFileSync(path, Buffer.concat([head, data]));
}

/** train / t10k IDX files of n 28x28 images whose brightness pattern depends on the label. */
export function writeIdx(dir: string, o: { train?: number; test?: number; relabel?: boolean } = {}): string {
  mkdirSync(dir, { recursive: true });
  for (const [split, n] of [
    ['train', o.train ?? 32],
    ['t10k', o.test ?? 8],
  ] as const) {
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 4);
    if (o.relabel) [labels[0], labels[1]] = [labels[1]!, labels[0]!];
    const px = new Uint8Array(n * 28 * 28);
    for (let i = 0; i < n; i++)
      for (let p = 0; p < 784; p++)
        px[i * 784 + p] = ((labels[i]! * 60 + ((p * 7 + i * 13) % 50)) * (1 + (p % 3))) % 256;
    idxFile(join(dir, `${split}-images-idx3-ubyte`), [n, 28, 28], px);
    idxFile(join(dir, `${split}-labels-idx1-ubyte`), [n], labels);
  }
  return dir;
}

/** A tiny recipe file over `idx` (written into dir/recipe.yaml-like name); extra YAML lines appended. */
export function writeRecipe(
  dir: string,
  idx: string,
  o: { epochs?: number; extra?: string; name?: string } = {},
): string {
  const file = join(dir, `${o.name ?? 'tiny'}.yaml`);
  writeFileSync(
    file,
    [
      `name: ${o.name ?? 'tiny'}`,
      'model: { name: cifar_net }',
      `data: { kind: idx, root: ${idx}, classes: [a, b, c, d], imageSize: 32, batchSize: 8 }`,
      'optimizer: { type: SGD, lr: 0.02, momentum: 0.9 }',
      `phases: [{ name: all, epochs: ${o.epochs ?? 3} }]`,
      'train: { seed: 3, threads: 1, logEvery: 1, report: false, monitor: train.loss, checkpoint: { keep: 2 } }',
      o.extra ?? '',
    ].join('\n'),
  );
  return file;
}

/** A tiny text recipe (a 2-layer BERT on a dozen CSV rows, tokenized in memory). */
export function writeTextRecipe(dir: string): string {
  const t = textData(join(dir, 'text'));
  const file = join(dir, 'text.yaml');
  writeFileSync(
    file,
    [
      'name: text',
      `model: { name: bert-base-uncased, numClasses: 2, options: { config: ${JSON.stringify(tinyBert(t.vocabSize))} } }`,
      `data: { kind: text, train: ${t.train}, val: ${t.val}, tokenizer: ${t.vocab}, maxLength: 16, batchSize: 4 }`,
      'optimizer: { type: SGD, lr: 0.01 }',
      'phases: [{ name: all, epochs: 3 }]',
      'train: { seed: 1, threads: 1, logEvery: 1, report: false }',
    ].join('\n'),
  );
  return file;
}

/** `graft train ...` in this process. */
export const graft = (...args: string[]) => capture(() => main(args));

export interface Child {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `graft ARGS` in a child process (GRAFT_NUM_THREADS=1 plus `env`). */
export function graftChild(args: string[], env: Record<string, string> = {}): Child {
  const proc = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, GRAFT_NUM_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  // a drill that fails must not leave a 400-epoch run behind
  const reap = () => proc.kill('SIGKILL');
  process.once('exit', reap);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => {
      process.off('exit', reap);
      resolve({ code, signal });
    }),
  );
  return { proc, out: () => out, err: () => err, exit };
}

/** Resolves once `cond` holds (polled every 20 ms); rejects after `ms`. */
export async function waitFor(cond: () => boolean, ms = 30_000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The step records of metrics.jsonl (after a resume, the last record of each step wins). */
export function stepLosses(run: string): number[] {
  const file = join(run, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  const by = new Map<number, number>();
  for (const l of readFileSync(file, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      const r = JSON.parse(l);
      if (r.type === 'step') by.set(r.step, r.loss);
    } catch {
      // a line being written
    }
  }
  return [...by.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]);
}

/** Temp files left in the run folder or its checkpoints. */
export const temps = (run: string): string[] =>
  [run, join(run, 'checkpoints')]
    .filter((d) => existsSync(d))
    .flatMap((d) => readdirSync(d).filter((n) => n.includes('.tmp-')));

/** A checkpoint's position and record (throws if it does not load). */
export function checkpointAt(file: string): {
  epoch: number;
  batch: number;
  step: number;
  best: number | null;
  kept: string[];
} {
  const t = readCheckpoint(file).tree;
  const rec = t.callbacks?.checkpoint ?? {};
  return {
    epoch: Number(t.epoch),
    batch: Number(t.batch),
    step: Number(t.step),
    best: rec.best_epoch === null || rec.best_epoch === undefined ? null : Number(rec.best_epoch),
    kept: rec.kept ?? [],
  };
}

/** Every file of a folder with its bytes, to prove a refused command changed nothing. */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p, readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}
