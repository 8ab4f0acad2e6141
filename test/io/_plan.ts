// Shared by the load-plan and inspect tests: fixture paths, small graft modules named like the
// torch nets in scripts/fixtures/plan_fixtures.py, and value helpers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchNorm2d, Conv2d, Linear, Module, ReLU, Sequential } from '../../src/nn/index.ts';
import type { Tensor } from '../../src/tensor/index.ts';

export const PLAN = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'io', 'plan');
export const IO = join(PLAN, '..');
export const RESNET_DP = join(PLAN, 'resnet18_dp.pth');
export const SSL = join(PLAN, 'ssl_backbone.pth');
export const GENERAL = join(PLAN, 'general_checkpoint.pth');

type Consts = Record<string, [number[], string, number]>;
export const planJson = JSON.parse(readFileSync(join(PLAN, 'plan.json'), 'utf8')) as {
  resnet18_dp: Consts;
  general_checkpoint: Consts;
  ssl_backbone: Record<string, [number[], string, number[]]>;
};

export function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'graft-plan-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function withTmpAsync<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'graft-plan-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

class Fwd extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/** The torch fixture's Backbone: conv(3, 4, 3), bn(4), fc(4, fcOut). */
export class Backbone extends Fwd {
  conv = this.registerModule('conv', new Conv2d(3, 4, 3));
  bn = this.registerModule('bn', new BatchNorm2d(4));
  fc: Linear;
  constructor(fcOut = 10) {
    super();
    this.fc = this.registerModule('fc', new Linear(4, fcOut));
  }
}

/** seed 001's new network: the pretrained backbone (with a different fc) and a new head. */
export class BackboneWithHead extends Fwd {
  backbone = this.registerModule('backbone', new Backbone(3));
  head = this.registerModule('head', new Linear(4, 2));
}

/** seed 001's projector: the checkpoint's `classifier` without its prefix. */
export const projector = () => new Sequential(new Linear(4, 16), new ReLU(), new Linear(16, 8));

/** conv / bn / fc as in test/fixtures/io/model.safetensors and the sharded fixture. */
export class Small extends Fwd {
  conv = this.registerModule('conv', new Conv2d(1, 2, 2));
  bn = this.registerModule('bn', new BatchNorm2d(2));
  fc = this.registerModule('fc', new Linear(2, 3));
}

export function values(model: Module, key: string): number[] {
  const t = model.stateDict().get(key);
  if (!t) throw new Error(`no key ${key}`);
  return Array.from(t.data() as ArrayLike<number | bigint>, Number);
}

export function allEqual(xs: ArrayLike<number>, v: number, tol = 1e-7): boolean {
  for (let i = 0; i < xs.length; i++) if (!(Math.abs(xs[i]! - v) <= tol)) return false;
  return true;
}

/** Every element of each key equals its constant (state dict read once; typed arrays, no copies). */
export function constants(model: Module, want: (key: string) => number, keys: readonly string[], tol = 1e-6): string[] {
  const sd = model.stateDict();
  const bad: string[] = [];
  for (const k of keys) {
    const d = sd.get(k)!.data() as ArrayLike<number> | BigInt64Array;
    const ok = d instanceof BigInt64Array ? d.every((x) => Number(x) === want(k)) : allEqual(d, want(k), tol);
    if (!ok) bad.push(k);
  }
  return bad;
}

export { capture } from '../_capture.ts';
