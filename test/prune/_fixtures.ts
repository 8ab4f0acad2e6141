// cases.json from scripts/fixtures/prune_fixtures.py (torch 1.13) and helpers to compare with it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as nn from '../../src/nn/index.ts';
import { type Tensor, tensor } from '../../src/tensor/index.ts';

export interface Enc {
  shape: number[];
  data: number[];
}
type Params = Record<string, Enc>;

export const FIX = join(import.meta.dirname, '..', 'fixtures', 'prune');
export const cases = JSON.parse(readFileSync(join(FIX, 'cases.json'), 'utf8')) as {
  single: { label: string; params: Params; name: string; mask: Enc; keys: string[] }[];
  iterative: { params: Params; steps: { label: string; mask: Enc }[] };
  global: { params: Params; first: Params; second: Params; keys: string[] };
  random: { params: Params; seed: number; first: Enc; second: Enc };
  randomStructured: { params: Params; seed: number; first: Enc; second: Enc };
  remove: { params: Params; prunedKeys: string[]; keys: string[]; weight: Enc; isParameter: boolean };
  train: { params: Params; x: Enc; target: Enc; loss: number; grad: Enc; weightOrig: Enc; weight: Enc };
  torchPruned: { keys: string[]; x: Enc; y: Enc };
};

export const t = (e: Enc): Tensor => tensor(new Float32Array(e.data), { shape: e.shape });

/** Sets a fresh module's parameters to the fixture's values (before any pruning). */
export function setParams<M extends nn.Module>(m: M, params: Params): M {
  m.loadStateDict(new Map(Object.entries(params).map(([k, v]) => [k, t(v)])));
  return m;
}

/** Bit-exact equality with a fixture tensor (float32 values). */
export function assertSame(got: Tensor, want: Enc, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  assert.deepEqual(got.float().toArray(), Array.from(new Float32Array(want.data)), `${what}: values`);
}

export const bufferOf = (m: nn.Module, name: string): Tensor =>
  [...m.namedBuffers({ recurse: false })].find(([n]) => n === name)?.[1] as Tensor;
