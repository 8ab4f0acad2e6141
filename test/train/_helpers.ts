// Tiny models and in-memory data for the trainer tests: fast, seeded, no files but the run folder.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Dropout, Linear, ReLU, Sequential } from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import type { EpochRecord, MetricsRecord, StepRecord } from '../../src/report/index.ts';
import { manualSeed, randn, type Tensor, tidy } from '../../src/tensor/index.ts';
import { type BatchSource, tensorData } from '../../src/train/index.ts';

export const D = 8;
export const C = 4;

/** Inputs [n, 8] and labels in 0..3 from a fixed linear rule plus noise: learnable, seeded. */
export function makeData(n: number, seed: number): { x: Tensor; y: Tensor } {
  return tidy(() => {
    manualSeed(7);
    const w = randn([D, C]);
    manualSeed(seed);
    const x = randn([n, D]);
    const y = x
      .matmul(w)
      .add(randn([n, C]).mul(0.3))
      .argmax(1);
    return { x, y };
  });
}

/** A 2-layer MLP (with dropout, so the per-batch seeding matters) built from a seed. */
export function mlp(seed: number, dropout = 0.1): Sequential {
  manualSeed(seed);
  return new Sequential(new Linear(D, 16), new ReLU(), new Dropout(dropout), new Linear(16, C));
}

export interface Setup {
  model: Sequential;
  optimizer: SGD;
  train: BatchSource;
  valid: BatchSource;
}

/** The same model, optimizer and data every time for a seed. */
export function setup(seed = 1, o: { n?: number; batchSize?: number; lr?: number } = {}): Setup {
  const { x, y } = makeData(o.n ?? 96, 100 + seed);
  const v = makeData(40, 200 + seed);
  const model = mlp(seed);
  const optimizer = new SGD(model.parameters(), { lr: o.lr ?? 0.1, momentum: 0.9 });
  return {
    model,
    optimizer,
    train: tensorData(x, y, { batchSize: o.batchSize ?? 16, shuffle: true, seed }),
    valid: tensorData(v.x, v.y, { batchSize: 16 }),
  };
}

export function tmpDir(prefix = 'graft-train-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function rmDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
}

export function readJsonl(path: string): MetricsRecord[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as MetricsRecord);
}

export const stepLosses = (recs: MetricsRecord[]): number[] =>
  recs.filter((r): r is StepRecord => r.type === 'step').map((r) => r.loss);
export const epochRecords = (recs: MetricsRecord[]): EpochRecord[] =>
  recs.filter((r): r is EpochRecord => r.type === 'epoch');

/** The parameters' values, for bit-exact comparisons. */
export const weights = (m: Sequential): number[][] => m.parameters().map((p) => p.toArray());
