// Shared pieces of the optimizer tests: the PyTorch fixture, the problem it describes, and
// comparisons of trajectories and state dicts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createOptimizer,
  type Optimizer,
  type OptimizerStateDict,
  type OptimizerStateDictInput,
  type ParamState,
} from '../../src/optim/index.ts';
import { type DType, type Tensor, tensor } from '../../src/tensor/index.ts';

type Nested = number | Nested[];
export interface EncTensor {
  tensor: Nested;
  dtype: DType;
  shape: number[];
}
export type Snapshot = Record<string, Nested>;
export interface EncStateDict {
  state: Record<string, Record<string, EncTensor | number | null>>;
  param_groups: { params: number[]; [k: string]: unknown }[];
}
export interface Case {
  name: string;
  type: string;
  options: Record<string, unknown>;
  group_overrides: Record<string, unknown>[];
  loss: boolean;
  trajectory: Snapshot[];
  state_dict_mid: EncStateDict;
  state_dict: EncStateDict;
  foreach_max_abs_diff: number;
}
interface Fixture {
  torch_version: string;
  steps: number;
  order: string[];
  shapes: Record<string, number[]>;
  frozen: string;
  no_grad_at: Record<string, string>;
  groups: string[][];
  init: Snapshot;
  grads: Record<string, Nested | null>[];
  loss_data: Record<'x' | 'y' | 'z' | 't', Nested>;
  cases: Case[];
  pth_cases: Record<string, string>;
  switch: {
    phases: {
      type: string;
      options: Record<string, unknown>;
      group_overrides: Record<string, unknown>[];
      steps: number;
    }[];
    trajectory: Snapshot[];
    state_dicts: EncStateDict[];
  };
}

export const FIXTURE_DIR = join(import.meta.dirname, '..', 'fixtures', 'optim');
export const FX: Fixture = JSON.parse(readFileSync(join(FIXTURE_DIR, 'trajectories.json'), 'utf8'));
export const TOL = 1e-6;

export type Params = Record<string, Tensor>;

/** The fixture's parameters at their initial values (or at `values`); the frozen one without grad. */
export function makeParams(values: Snapshot = FX.init): Params {
  const ps: Params = {};
  for (const n of FX.order) ps[n] = tensor(values[n] as number[], { requiresGrad: n !== FX.frozen });
  return ps;
}

export function makeGroups(
  ps: Params,
  overrides: Record<string, unknown>[],
): { params: Tensor[]; [k: string]: unknown }[] {
  return FX.groups.map((names, i) => ({ params: names.map((n) => ps[n]!), ...overrides[i] }));
}

export function makeOptimizer(
  type: string,
  options: Record<string, unknown>,
  overrides: Record<string, unknown>[],
  ps: Params,
): Optimizer {
  return createOptimizer({ type, ...options }, makeGroups(ps, overrides));
}

/** Sets step t's gradients: the fixed sequence, or autograd through the fixture's loss. */
export function setGrads(ps: Params, t: number, useLoss: boolean): void {
  for (const p of Object.values(ps)) p.grad = undefined;
  if (useLoss) {
    const d = FX.loss_data;
    const [x, y, z, tt] = [d.x, d.y, d.z, d.t].map((v) => tensor(v as number[]));
    const a = x!.matmul(ps.W1!).add(ps.b1!).sub(y!).pow(2).sum();
    const b = ps.W2!.matmul(z!).sub(tt!).pow(2).sum();
    a.add(b).add(ps.F!.mul(0.5).sum()).backward();
  } else
    for (const n of FX.order) {
      const g = FX.grads[t]![n];
      if (g !== null && g !== undefined) ps[n]!.grad = tensor(g as number[]);
    }
  const skip = FX.no_grad_at[String(t)];
  if (skip) ps[skip]!.grad = undefined;
}

const flat = (v: Nested): number[] => (Array.isArray(v) ? v.flatMap(flat) : [v]);

/** Largest |a - e| / max(|e|, 1e-4) over the elements. */
export function relErr(actual: number[], expected: number[]): number {
  assert.equal(actual.length, expected.length, 'element count');
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i]!;
    const err = Math.abs(actual[i]! - e) / Math.max(Math.abs(e), 1e-4);
    if (!(err <= worst)) worst = err; // NaN propagates
  }
  return worst;
}

/** Compares the parameters with a snapshot; returns the worst relative error. */
export function compareParams(ps: Params, snap: Snapshot, where: string): number {
  let worst = 0;
  for (const n of FX.order) {
    const e = relErr(ps[n]!.toArray(), flat(snap[n]!));
    assert.ok(e <= TOL, `${where}: ${n} relative error ${e}`);
    worst = Math.max(worst, e);
  }
  return worst;
}

/** Fixture tensors ({tensor, dtype, shape}) back into Tensors. */
export function decodeStateDict(enc: EncStateDict): OptimizerStateDictInput {
  const state: Record<string, ParamState> = {};
  for (const [k, st] of Object.entries(enc.state)) {
    const out: ParamState = {};
    for (const [key, v] of Object.entries(st))
      out[key] =
        v !== null && typeof v === 'object' ? tensor(flat(v.tensor), { dtype: v.dtype, shape: v.shape }) : (v ?? null);
    state[k] = out;
  }
  return { state, param_groups: structuredClone(enc.param_groups) };
}

/** Same keys, value types and (to TOL) values as PyTorch's state dict; returns the worst relative error. */
export function compareStateDict(actual: OptimizerStateDict, expected: EncStateDict, where: string): number {
  assert.deepEqual(actual.param_groups, expected.param_groups, `${where}: param_groups`);
  assert.deepEqual([...actual.state.keys()], Object.keys(expected.state).map(Number), `${where}: state indices`);
  let worst = 0;
  for (const [i, st] of actual.state) {
    const exp = expected.state[String(i)]!;
    assert.deepEqual(Object.keys(st), Object.keys(exp), `${where}: state[${i}] keys`);
    for (const [k, v] of Object.entries(st)) {
      const e = exp[k];
      if (e !== null && typeof e === 'object') {
        assert.ok(v !== null && typeof v === 'object' && 'dtype' in v, `${where}: state[${i}].${k} should be a tensor`);
        const t = v as Tensor;
        assert.equal(t.dtype, e.dtype, `${where}: state[${i}].${k} dtype`);
        assert.deepEqual(t.shape, e.shape, `${where}: state[${i}].${k} shape`);
        const err = relErr(t.toArray(), flat(e.tensor));
        assert.ok(err <= TOL, `${where}: state[${i}].${k} relative error ${err}`);
        worst = Math.max(worst, err);
      } else assert.equal(v, e, `${where}: state[${i}].${k}`);
    }
  }
  return worst;
}

/** The raw float32 bits of a tensor, for bit-identity checks. */
export const bits = (t: Tensor): number[] => Array.from(new Uint32Array(new Float32Array(t.toArray()).buffer));

export const caseNamed = (name: string): Case => {
  const c = FX.cases.find((x) => x.name === name);
  if (!c) throw new Error(`no fixture case ${name}`);
  return c;
};
