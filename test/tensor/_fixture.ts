// Parity harness: loads PyTorch fixtures (scripts/fixtures/tensor_fixtures.py), runs each case
// through graft, compares outputs and gradients, and checks gradients by finite differences.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { type DType, grad, isFloating, type Tensor, tensor, tidy } from '../../src/tensor/index.ts';

export interface FixTensor {
  dtype: DType;
  shape: number[];
  data: (number | boolean | string)[];
}

export interface Tol {
  rtol: number;
  atol: number;
}

export interface Case {
  name: string;
  inputs: Record<string, FixTensor>;
  outputs: FixTensor[];
  grad?: string[];
  upstream?: (FixTensor | null)[];
  grads?: Record<string, FixTensor | null>;
  fd?: boolean;
  tol?: Tol;
}

/**
 * A case's inputs by name. The names the cases give are declared, so implementations destructure
 * them without checks; an optional input (foreach's b0, c0) is looked up by index and may be absent.
 */
export interface Inputs {
  [name: string]: Tensor;
  a: Tensor;
  b: Tensor;
  c: Tensor;
  i: Tensor;
  k: Tensor;
  m: Tensor;
  p: Tensor;
  q: Tensor;
  rm: Tensor;
  rv: Tensor;
  s: Tensor;
  t: Tensor;
  v: Tensor;
  w: Tensor;
  w1: Tensor;
  b1: Tensor;
  w2: Tensor;
  x: Tensor;
  y: Tensor;
}
export type Impl = (x: Inputs) => Tensor | Tensor[];

export const FLOAT_TOL: Tol = { rtol: 1e-5, atol: 1e-6 };
const FD_TOL: Tol = { rtol: 1e-5, atol: 1e-6 };
const FD_STEP = 1e-6;
const FD_MAX_POINTS = 128;

const FIXTURES = new URL('../fixtures/tensor/', import.meta.url);

export function loadFamily(family: string): Case[] {
  return JSON.parse(readFileSync(new URL(`${family}.json`, FIXTURES), 'utf8')).cases;
}

export const fixCase = (family: string, name: string): Case => {
  const c = loadFamily(family).find((x) => x.name === name);
  if (!c) throw new Error(`no fixture case ${family}/${name}`);
  return c;
};

const num = (v: number | boolean | string): number =>
  v === 'nan' ? Number.NaN : v === 'inf' ? Infinity : v === '-inf' ? -Infinity : Number(v);

/** A graft tensor holding a fixture's values (optionally in another dtype). */
export function fromFix(f: FixTensor, dtype: DType = f.dtype): Tensor {
  const n = f.data.map(num);
  const shape = f.shape;
  switch (dtype) {
    case 'float32':
      return tensor(Float32Array.from(n), { shape });
    case 'float64':
      return tensor(Float64Array.from(n), { shape });
    case 'int64':
      return tensor(
        BigInt64Array.from(n, (v) => BigInt(v)),
        { shape },
      );
    case 'int32':
      return tensor(Int32Array.from(n), { shape });
    case 'int16':
      return tensor(Int16Array.from(n), { shape });
    case 'int8':
      return tensor(Int8Array.from(n), { shape });
    case 'uint8':
      return tensor(Uint8Array.from(n), { shape });
    case 'bool':
      return tensor(Uint8Array.from(n), { shape, dtype: 'bool' });
    default:
      return tidy(() => tensor(Float32Array.from(n), { shape }).to(dtype));
  }
}

/** Shape and dtype exactly; floats within tol, everything else exactly. */
export function assertMatches(actual: Tensor, expected: FixTensor, what: string, tol: Tol = FLOAT_TOL): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${what}: dtype`);
  assertValues(actual.toArray(), expected.data.map(num), what, isFloating(expected.dtype) ? tol : undefined);
}

export function assertValues(a: number[], e: number[], what: string, tol?: Tol): void {
  assert.equal(a.length, e.length, `${what}: element count`);
  for (let i = 0; i < e.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    const ok = tol
      ? (Number.isNaN(x) && Number.isNaN(y)) || x === y || Math.abs(x - y) <= tol.atol + tol.rtol * Math.abs(y)
      : x === y;
    if (!ok)
      assert.fail(
        `${what}: element ${i} is ${x}, expected ${y} (all: [${a.slice(0, 12)}${a.length > 12 ? ',...' : ''}])`,
      );
  }
}

/** Element-wise |a - b| <= tol * (1 + |b|). */
export function assertClose(a: number[], b: number[], tol = 1e-5, what = 'values'): void {
  assert.equal(a.length, b.length, `${what}: element count`);
  for (let i = 0; i < a.length; i++)
    if (!(Math.abs(a[i]! - b[i]!) <= tol * (1 + Math.abs(b[i]!)))) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

export function flat(out: Tensor | Tensor[]): Tensor[] {
  return Array.isArray(out) ? out : [out];
}

/** A case's inputs as Inputs: the declared names are the ones the cases give (optional ones go by index). */
export function namedInputs(x: Record<string, Tensor>): Inputs {
  return x as Inputs;
}

function buildInputs(c: Case, float64 = false): Inputs {
  const x: Record<string, Tensor> = {};
  for (const [k, f] of Object.entries(c.inputs))
    x[k] = fromFix(f, float64 && isFloating(f.dtype) ? 'float64' : f.dtype);
  return namedInputs(x);
}

/** Runs the case: outputs against PyTorch's, then gradients for the fixture's upstream. */
export function checkCase(c: Case, impl: Impl): void {
  tidy(() => {
    const x = buildInputs(c);
    for (const k of c.grad ?? []) x[k]!.requiresGrad = true;
    const outs = flat(impl(x));
    assert.equal(outs.length, c.outputs.length, `${c.name}: number of outputs`);
    outs.forEach((o, i) => {
      assertMatches(o, c.outputs[i]!, `${c.name} output ${i}`, c.tol);
    });
    if (!c.grad) return;
    const live = outs.flatMap((o, i) => (c.upstream![i] ? [[o, fromFix(c.upstream![i]!)] as const] : []));
    assert.ok(live.length > 0, `${c.name}: no output carries a gradient`);
    const gs = grad(
      live.map(([o]) => o),
      c.grad.map((k) => x[k]!),
      { gradOutputs: live.map(([, u]) => u), allowUnused: true },
    );
    c.grad.forEach((k, i) => {
      const want = c.grads![k];
      const got = gs[i];
      if (!want) assert.ok(!got || got.abs().max().item() === 0, `${c.name}: grad of ${k} should be absent`);
      else {
        assert.ok(got, `${c.name}: no gradient for ${k}`);
        assertMatches(got, want, `${c.name} grad ${k}`, c.tol);
      }
    });
  });
}

/** sum_i <out_i, up_i>: the scalar whose gradient equals the vector-Jacobian product. */
function dot(outs: Tensor[], ups: (Tensor | undefined)[]): Tensor {
  let total: Tensor | undefined;
  outs.forEach((o, i) => {
    const u = ups[i];
    if (!u) return;
    const term = o.mul(u).sum();
    total = total ? total.add(term) : term;
  });
  if (!total) throw new Error('no output with an upstream gradient');
  return total;
}

/**
 * Central-difference gradient check in float64: compares autograd's vector-Jacobian product for
 * `upstream` with (f(x + h e_i) - f(x - h e_i)) / 2h for each checked element of each named input.
 */
export function gradcheck(
  fn: Impl,
  inputs: Record<string, Tensor>,
  names: string[],
  upstream: (Tensor | undefined)[],
  what = 'gradcheck',
  tol: Tol = FD_TOL,
): void {
  tidy(() => {
    const leaves: Record<string, Tensor> = { ...inputs };
    for (const k of names) leaves[k] = inputs[k]!.detach().requiresGrad_();
    const analytic = grad(
      dot(flat(fn(namedInputs(leaves))), upstream),
      names.map((k) => leaves[k]!),
      { allowUnused: true },
    );
    names.forEach((k, n) => {
      const base = inputs[k]!;
      assert.equal(base.dtype, 'float64', `${what}: ${k} must be float64 for finite differences`);
      const values = base.data() as Float64Array;
      const ana = analytic[n] ? analytic[n]!.toArray() : new Array<number>(values.length).fill(0);
      const step = Math.max(1, Math.ceil(values.length / FD_MAX_POINTS));
      for (let i = 0; i < values.length; i += step) {
        // no noGrad here: fn may itself differentiate (second derivatives); nothing here requires grad
        const at = (delta: number): number =>
          tidy(() => {
            const v = values.slice();
            v[i]! += delta;
            return dot(flat(fn(namedInputs({ ...inputs, [k]: tensor(v, { shape: base.shape }) }))), upstream).item();
          });
        const numeric = (at(FD_STEP) - at(-FD_STEP)) / (2 * FD_STEP);
        const err = Math.abs(numeric - ana[i]!);
        if (err > tol.atol + tol.rtol * Math.abs(numeric))
          assert.fail(`${what}: d/d${k}[${i}] autograd ${ana[i]} vs finite difference ${numeric}`);
      }
    });
  });
}

/** The fixture's case redone in float64 and checked by finite differences. */
export function fdCase(c: Case, impl: Impl): void {
  tidy(() => {
    const x = buildInputs(c, true);
    const ups = c.upstream!.map((u) => (u ? fromFix(u, 'float64') : undefined));
    gradcheck(impl, x, c.grad!, ups, c.name);
  });
}

/**
 * One node:test per fixture case (values, dtypes, PyTorch's gradients) and one finite-difference
 * check per differentiable case; fails when fixture and implementations list different cases.
 */
export function runFamily(family: string, impls: Record<string, Impl>, o: { label?: string } = {}): void {
  const cases = loadFamily(family);
  describe(o.label ?? family, () => {
    test('every fixture case has an implementation, and every implementation a case', () => {
      const names = new Set(cases.map((c) => c.name));
      assert.deepEqual(
        cases.map((c) => c.name).filter((n) => !impls[n]),
        [],
        'cases without an implementation',
      );
      assert.deepEqual(
        Object.keys(impls).filter((n) => !names.has(n)),
        [],
        'implementations without a case',
      );
    });
    for (const c of cases) {
      const impl = impls[c.name];
      if (!impl) continue;
      test(c.name, () => checkCase(c, impl));
      if (c.grad && c.fd !== false) test(`${c.name} (finite differences, float64)`, () => fdCase(c, impl));
    }
  });
}
