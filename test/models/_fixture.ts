// Deterministic fixture values shared with scripts/fixtures/model_fixtures.py: an integer hash of
// (index + FNV-1a(key)) mapped to [-1, 1) in float64, scaled by a rule on the key, rounded to float32.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Module } from '../../src/nn/index.ts';
import { fromArray, noGrad, type Tensor } from '../../src/tensor/index.ts';
import { readSafetensorsFile } from './_st.ts';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures', 'models');

export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** lowbias32 of (i + seed) mod 2^32 as v in [-1, 1) (float64), then c0 + c1 * v rounded to float32. */
function hashFill(n: number, key: string, c0: number, c1: number): Float32Array {
  const seed = fnv1a(key);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let x = (i + seed) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x7feb352d) >>> 0;
    x ^= x >>> 15;
    x = Math.imul(x, 0x846ca68b) >>> 0;
    x ^= x >>> 16;
    out[i] = c0 + c1 * (((x >>> 0) / 4294967296) * 2 - 1);
  }
  return out;
}

/** The value rule of the generator's value_for(); undefined for num_batches_tracked. */
export function valueFor(key: string, shape: number[]): Tensor | undefined {
  const name = key.slice(key.lastIndexOf('.') + 1);
  if (name === 'num_batches_tracked') return undefined;
  const n = shape.reduce((a, b) => a * b, 1);
  // c0 + c1 * v with c0 = 0 is exactly the generator's c1 * v
  let c: [number, number];
  if (name === 'running_var') c = [1, 0.5];
  else if (name === 'running_mean') c = [0, 0.1];
  else if (shape.length === 1 && name === 'weight') c = [1, 0.2];
  else if (shape.length <= 1) c = [0, 0.1];
  else c = [0, Math.sqrt(6 / Math.floor(n / shape[0]!))];
  return fromArray(hashFill(n, key, c[0], c[1]), shape);
}

/** Fills every state-dict entry of a module in place with the generator's values. */
export function fill<M extends Module>(m: M): M {
  noGrad(() => {
    for (const [k, t] of m.stateDict({ keepVars: true })) {
      const v = valueFor(k, t.shape);
      if (v) {
        t.copy_(v);
        v.dispose();
      }
    }
  });
  return m;
}

export const hinput = (key: string, shape: number[]): Tensor =>
  fromArray(
    hashFill(
      shape.reduce((a, b) => a * b, 1),
      key,
      0,
      1,
    ),
    shape,
  );

export const readTensors = (name: string): Map<string, Tensor> => readSafetensorsFile(join(FIXTURES, name));
export const readJson = <T = any>(name: string): T => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as T;

/**
 * Elementwise |a - b| <= rtol * |b| + atolScale * rtol * max|b|: relative per element, with a floor of
 * 1e-5 of the tensor's scale (by default) for entries near zero, where float32 summation order shows.
 */
export function assertClose(actual: Tensor, expected: Tensor, what: string, rtol = 1e-4, atolScale = 0.1): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  const a = actual.data();
  const b = expected.data();
  let maxB = 0;
  for (let i = 0; i < b.length; i++) maxB = Math.max(maxB, Math.abs(Number(b[i])));
  const atol = atolScale * rtol * maxB;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < b.length; i++) {
    const err = Math.abs(Number(a[i]) - Number(b[i]));
    const tol = rtol * Math.abs(Number(b[i])) + atol;
    if (!(err <= tol) && err - tol >= worstErr) {
      worst = i;
      worstErr = err - tol;
    }
  }
  if (worst >= 0)
    assert.fail(
      `${what}: element ${worst} is ${Number(a[worst])}, expected ${Number(b[worst])} (rtol ${rtol}, max|b| ${maxB})`,
    );
}
