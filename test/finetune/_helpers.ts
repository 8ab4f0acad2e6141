// Shared pieces of the fine-tuning tests: the PyTorch fixture's tiny model and data, a minimal
// training loop driving a PhaseRunner the way the trainer will, and comparisons.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PhaseRunner } from '../../src/finetune/index.ts';
import { type ModelMeta, setMeta } from '../../src/models/index.ts';
import { BatchNorm1d, Linear, Module, ReLU, Sequential } from '../../src/nn/index.ts';
import { aten, crossEntropy, noGrad, type Tensor, tensor, tidy } from '../../src/tensor/index.ts';

type Nested = number | Nested[];
export type Snapshot = Record<string, Nested>;
export interface Run {
  lrs: number[][];
  params: Snapshot[];
  [k: string]: unknown;
}
interface Fixture {
  torch_version: string;
  steps_per_epoch: number;
  init: Snapshot;
  x: Nested;
  y: number[];
  seed000: Run & { lr: number; k: number; epochs: number; base_lrs: number[] };
  seed001: Run & { lr: number; epochs: number };
  seed003: Run & {
    lr: number;
    switch_at: number;
    epochs: number;
    acc: number[];
    requires_grad: Record<string, boolean>[];
  };
  finetune: Run & {
    base_lr: number;
    freeze_epochs: number;
    epochs: number;
    steps: { lr: number[]; momentum: number[] }[];
  };
}

export const FX: Fixture = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', 'fixtures', 'finetune', 'runs.json'), 'utf8'),
);
export const TOL = 1e-6;

/** body = Sequential(Linear(4, 6, bias false), BatchNorm1d(6), ReLU()), head = Linear(6, 3): the fixture's model. */
export class Tiny extends Module {
  body: Sequential;
  head: Linear;
  constructor() {
    super();
    this.body = this.registerModule(
      'body',
      new Sequential(new Linear(4, 6, { bias: false }), new BatchNorm1d(6), new ReLU()),
    );
    this.head = this.registerModule('head', new Linear(6, 3));
  }
  forward(x: Tensor): Tensor {
    return this.head.call(this.body.call(x));
  }
}

export const TINY_META: ModelMeta = {
  name: 'tiny',
  family: 'tiny',
  task: 'image-classification',
  classifier: ['head'],
  groups: [
    { name: 'body.0', match: ['body.0'] },
    { name: 'body.1', match: ['body.1'] },
    { name: 'head', match: ['head'] },
  ],
};

const flat = (v: Nested): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

/** The fixture's model at its initial values, with layer-group metadata attached. */
export function tiny(): Tiny {
  const m = new Tiny();
  const sd: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(FX.init)) sd[k] = tensor(flat(v), { shape: m.getParameter(k)!.shape });
  m.loadStateDict(sd, { strict: false });
  setMeta(m, TINY_META);
  return m;
}

const X = () => tensor(flat(FX.x), { shape: [16, 4] });
const Y = () => tensor(FX.y, { dtype: 'int64' });

/**
 * One epoch as the trainer will run it: onEpochStart, model.train(), per batch zero_grad /
 * backward / step / onStepEnd, then onEpochEnd with the metrics. Returns the lrs the epoch started with.
 */
export function runEpoch(
  model: Module,
  r: PhaseRunner,
  epoch: number,
  metrics: Record<string, number> = {},
  beforeStep?: () => void,
): number[] {
  r.onEpochStart(epoch);
  const lrs = r.optimizer.paramGroups.map((g) => g.lr);
  model.train();
  for (let b = 0; b < FX.steps_per_epoch; b++) {
    tidy(() => {
      const x = X().slice(0, b * 8, (b + 1) * 8);
      const y = Y().slice(0, b * 8, (b + 1) * 8);
      r.optimizer.zeroGrad();
      crossEntropy(model.call(x), y).backward();
      beforeStep?.();
      r.optimizer.step();
    });
    r.onStepEnd();
  }
  r.onEpochEnd(epoch, metrics);
  return lrs;
}

/** Largest |a - e| / max(|e|, 1e-4). */
export function relErr(actual: number[], expected: number[]): number {
  assert.equal(actual.length, expected.length, 'element count');
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(actual[i]! - e) / Math.max(Math.abs(e), 1e-4);
    if (!(err <= worst)) worst = err;
  }
  return worst;
}

/** Parameters and BatchNorm buffers against a fixture snapshot (to TOL); returns the worst error. */
export function compareState(model: Module, snap: Snapshot, where: string): number {
  const sd = model.stateDict();
  let worst = 0;
  for (const [k, v] of Object.entries(snap)) {
    const t = sd.get(k);
    assert.ok(t, `${where}: no ${k}`);
    const e = relErr(t.toArray(), flat(v));
    assert.ok(e <= TOL, `${where}: ${k} relative error ${e}`);
    worst = Math.max(worst, e);
  }
  return worst;
}

/** The raw float32 bits of a tensor, for bit-identity checks. */
export const bits = (t: Tensor): number[] => Array.from(new Uint32Array(new Float32Array(t.toArray()).buffer));

/** Bits of every parameter and buffer, by name. */
export function allBits(model: Module): Map<string, number[]> {
  return new Map(
    [...model.stateDict()].map(([k, t]) => [k, k.endsWith('num_batches_tracked') ? t.toArray() : bits(t)]),
  );
}

/** Copies of every parameter and buffer (for models too big for allBits). */
export function cloneState(model: Module): Map<string, Tensor> {
  return noGrad(() => new Map([...model.stateDict()].map(([k, t]) => [k, t.clone().keep()])));
}

/** Names whose values differ (torch.equal) from a cloneState() copy. */
export function changedSince(model: Module, copy: Map<string, Tensor>): string[] {
  const equal = aten('aten::equal');
  return [...model.stateDict()].filter(([k, t]) => !(equal(t, copy.get(k)!) as boolean)).map(([k]) => k);
}
