// Fixtures from scripts/fixtures/quant_fixtures.py (torch 1.13, torch.ao.quantization) and the
// seeded weights they were made with.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../../src/nn/index.ts';
import { manualSeed, noGrad, rand, randn, type Tensor } from '../../src/tensor/index.ts';

export interface Enc {
  shape: number[];
  data: number[];
}

export const FIX = join(import.meta.dirname, '..', 'fixtures', 'quant');
export const readFixture = (name: string): any => JSON.parse(readFileSync(join(FIX, name), 'utf8'));

/** The fixture script's fill(): every state-dict entry drawn from manualSeed(seed), in order. */
export function fill(model: Module, seed: number): void {
  manualSeed(seed);
  noGrad(() => {
    for (const [k, v] of model.stateDict()) {
      if (k.endsWith('num_batches_tracked')) continue;
      let src: Tensor;
      if (k.endsWith('running_var')) src = rand(v.shape).mul(0.5).add(0.5);
      else if (v.ndim === 1 && k.endsWith('.weight')) src = rand(v.shape).mul(0.5).add(0.75);
      else if (v.ndim > 1) src = randn(v.shape).mul(1 / Math.sqrt(v.numel() / v.shape[0]!));
      else src = randn(v.shape).mul(0.1);
      v.copy_(src);
    }
  });
}

/** Exact equality with a fixture's numbers (float32 values compared as float32). */
export function assertExact(got: Tensor, want: Enc, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const g = Array.from(got.data() as ArrayLike<number>);
  assert.deepEqual(
    g,
    want.data.map((v) => (Number.isInteger(v) ? v : Math.fround(v))),
    `${what}: values`,
  );
}

export function assertClose(got: Tensor, want: Enc, tol: number, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const g = got.data() as ArrayLike<number>;
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs(g[i]! - want.data[i]!));
  assert.ok(worst <= tol, `${what}: max |diff| ${worst} > ${tol}`);
}

/** A tensor's values as plain numbers (int64 too). */
export const nums = (t: Tensor): number[] => Array.from(t.data() as ArrayLike<number | bigint>, Number);
