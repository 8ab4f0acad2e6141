// The direct CPU entries of the fast paths (native/fast.h `direct`: at::cpu::add, at::cpu::addmm...,
// taken for plain dense CPU tensors with no autocast / inference mode / profiler active) against the
// boxed dispatcher (aten()): the same bytes, dtype, shape and autograd state on the inputs that take
// them (non-contiguous, broadcast, promoted, edge scalars) and on those that must not (requires_grad,
// autocast, noGrad), and GRAFT_FAST_OPS=0 giving the same results.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  addmm,
  aten,
  autocast,
  bmm,
  type DType,
  linear,
  mm,
  noGrad,
  randn,
  type Tensor,
  tensor,
  tidy,
} from '../../src/tensor/index.ts';

function same(f: Tensor, b: Tensor, what: string): void {
  assert.equal(f.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(f.shape, b.shape, `${what}: shape`);
  assert.deepEqual(f.bytes(), b.bytes(), `${what}: values`);
  assert.equal(f.requiresGrad, b.requiresGrad, `${what}: requiresGrad`);
  assert.equal(f.gradFn, b.gradFn, `${what}: gradFn`);
}

// inputs the direct entries take: contiguous, transposed (non-contiguous), 0-dim, empty, sliced
function inputs(dtype: DType): [string, Tensor][] {
  const base = randn([3, 4], { dtype });
  return [
    ['contiguous', base],
    ['transposed', base.T],
    ['0-dim', randn([], { dtype })],
    ['empty', randn([0, 4], { dtype })],
    ['strided slice', base.slice(1, 0, undefined, 2)],
  ];
}

const SCALARS = [
  1,
  -3,
  0.1,
  1 / 3,
  -0,
  1e300,
  -1e300,
  1e-320,
  2 ** 53 - 1,
  2 ** 53 + 2,
  -(2 ** 31),
  Number.NaN,
  Number.NEGATIVE_INFINITY,
];

test('scalar ops on float tensors: the operand made in the tensor dtype gives the boxed bytes', () => {
  tidy(() => {
    for (const dtype of ['float32', 'float64'] as DType[])
      for (const [kind, a] of inputs(dtype))
        for (const s of SCALARS) {
          const tag = `${dtype} ${kind} ${s}`;
          same(a.add(s), aten('add', 'Scalar')(a, s), `add ${tag}`);
          same(a.add(s, 0.5), aten('add', 'Scalar')(a, s, 0.5), `add alpha 0.5 ${tag}`);
          same(a.sub(s, -2), aten('sub', 'Scalar')(a, s, -2), `sub alpha -2 ${tag}`);
          same(a.mul(s), aten('mul', 'Scalar')(a, s), `mul ${tag}`);
          same(a.div(s), aten('div', 'Scalar')(a, s), `div ${tag}`);
        }
  });
});

test('each result keeps its own scalar: the per-thread operand is not shared with results', () => {
  tidy(() => {
    const a = tensor([1, 2, 3]);
    const r1 = a.add(1);
    const r2 = a.add(10);
    const r3 = a.mul(0.5);
    assert.deepEqual(r1.toArray(), [2, 3, 4]);
    assert.deepEqual(r2.toArray(), [11, 12, 13]);
    assert.deepEqual(r3.toArray(), [0.5, 1, 1.5]);
  });
});

test('tensor-tensor ops: promotion, broadcasting and non-contiguous inputs as the dispatcher', () => {
  tidy(() => {
    const pairs: [string, Tensor, Tensor][] = [
      ['transposed + contiguous', randn([4, 3]).T, randn([3, 4])],
      ['broadcast row', randn([3, 4]), randn([4])],
      ['float32 + float64 0-dim', randn([3]), randn([], { dtype: 'float64' })],
      ['float32 + float64', randn([3]), randn([3], { dtype: 'float64' })],
      ['int64 + float32', tensor([1, 2, 3], { dtype: 'int64' }), randn([3])],
      ['uint8 + int32', tensor([200, 3, 4], { dtype: 'uint8' }), tensor([100, -1, 2], { dtype: 'int32' })],
      ['bool + bool', tensor([1, 0, 1], { dtype: 'bool' }), tensor([1, 1, 0], { dtype: 'bool' })],
    ];
    for (const [what, a, b] of pairs) {
      for (const name of ['add', 'sub', 'mul', 'div'] as const) {
        let boxed: Tensor | Error;
        let fast: Tensor | Error;
        try {
          boxed = aten(name, 'Tensor')(a, b);
        } catch (e) {
          boxed = e as Error;
        }
        try {
          fast = a[name](b);
        } catch (e) {
          fast = e as Error;
        }
        if (boxed instanceof Error || fast instanceof Error) {
          assert.ok(boxed instanceof Error && fast instanceof Error, `${name} ${what}: only one path threw`);
          assert.equal(fast.message, boxed.message, `${name} ${what}: error`);
        } else same(fast, boxed, `${name} ${what}`);
      }
      same(a.add(b, 3), aten('add', 'Tensor')(a, b, 3), `add alpha ${what}`);
    }
  });
});

test('unary and matrix ops on non-contiguous inputs', () => {
  tidy(() => {
    const x = randn([5, 3]).T;
    const sq = x.abs();
    same(x.relu(), aten('relu')(x), 'relu');
    same(x.sigmoid(), aten('sigmoid')(x), 'sigmoid');
    same(x.tanh(), aten('tanh')(x), 'tanh');
    same(x.neg(), aten('neg')(x), 'neg');
    same(x.exp(), aten('exp')(x), 'exp');
    same(x.log(), aten('log')(x), 'log');
    same(sq.sqrt(), aten('sqrt')(sq), 'sqrt');
    same(sq.rsqrt(), aten('rsqrt')(sq), 'rsqrt');
    const m = randn([4, 5]).T;
    same(mm(x, m), aten('mm')(x, m), 'mm');
    const b1 = randn([2, 4, 3]).transpose(1, 2);
    const b2 = randn([2, 4, 5]);
    same(bmm(b1, b2), aten('bmm')(b1, b2), 'bmm');
    const c = randn([4]);
    same(addmm(c, x, m, 0.5, 2), aten('addmm')(c, x, m, 0.5, 2), 'addmm');
  });
});

test('linear: the bias-rows route (small outputs) gives at::linear bytes; the others fall back', () => {
  tidy(() => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      const cases: [string, number[], number[], Tensor][] = [
        ['the bench size', [8, 64], [32, 64], randn([32], { dtype })],
        ['one row', [1, 3], [5, 3], randn([5], { dtype })],
        ['inner size 1', [3, 1], [7, 1], randn([7], { dtype })],
        ['no rows', [0, 6], [5, 6], randn([5], { dtype })],
        ['inner size 0', [4, 0], [5, 0], randn([5], { dtype })],
        ['strided bias', [4, 6], [5, 6], randn([10], { dtype }).slice(0, 0, 10, 2)],
        ['output at the grain size (the addmm route)', [256, 16], [128, 16], randn([128], { dtype })],
      ];
      for (const [what, xs, ws, b] of cases) {
        const x = randn(xs, { dtype });
        const w = randn(ws, { dtype });
        same(linear(x, w, b), aten('linear')(x, w, b), `${dtype} ${what}`);
      }
    }
    // a bias of another dtype and mismatched shapes: the same errors as at::linear
    const x = randn([4, 6]);
    const w = randn([5, 6]);
    for (const [what, xx, ww, bb] of [
      ['float64 bias', x, w, randn([5], { dtype: 'float64' })],
      ['bias of the wrong size', x, w, randn([4])],
      ['inner sizes differ', x, randn([5, 7]), randn([5])],
    ] as [string, Tensor, Tensor, Tensor][]) {
      let boxed = '';
      try {
        aten('linear')(xx, ww, bb);
      } catch (e) {
        boxed = (e as Error).message.replace(/^.*?: /, '');
      }
      assert.ok(boxed, `${what}: at::linear fails`);
      assert.throws(
        () => linear(xx, ww, bb),
        (e: Error) => e.message.includes(boxed.split('\n')[0]!.slice(0, 40)),
        what,
      );
    }
  });
});

test('linear: the direct addmm route gives at::linear bytes, and falls back where it must', () => {
  tidy(() => {
    for (const dtype of ['float32', 'float64'] as DType[]) {
      const x = randn([8, 6], { dtype });
      const w = randn([5, 6], { dtype });
      const b = randn([5], { dtype });
      same(linear(x, w, b), aten('linear')(x, w, b), `${dtype} contiguous`);
      const wt = randn([6, 5], { dtype }).T;
      same(linear(x, wt, b), aten('linear')(x, wt, b), `${dtype} transposed weight`);
      const xt = randn([6, 8], { dtype }).T;
      same(linear(xt, w, b), aten('linear')(xt, w, b), `${dtype} transposed input`);
      const b1 = randn([1], { dtype });
      same(linear(x, w, b1), aten('linear')(x, w, b1), `${dtype} broadcast bias`);
      same(linear(x, w), aten('linear')(x, w), `${dtype} no bias`);
      const x3 = randn([2, 8, 6], { dtype });
      same(linear(x3, w, b), aten('linear')(x3, w, b), `${dtype} 3-D input`);
    }
    // requires_grad: through autograd, with the same graph and gradient
    const x = randn([4, 6]);
    const w = randn([5, 6], { requiresGrad: true });
    const b = randn([5]);
    const yf = linear(x, w, b);
    same(yf, aten('linear')(x, w, b), 'requires_grad weight');
    yf.sum().backward();
    const g = w.grad!.clone();
    w.zeroGrad();
    aten('linear')(x, w, b).sum().backward();
    assert.deepEqual(w.grad!.bytes(), g.bytes(), 'gradient');
    // autocast: the dispatcher's autocast kernel must still see the call (bfloat16 result)
    const xa = randn([4, 6]);
    const wa = randn([5, 6]);
    const fast = autocast(() => linear(xa, wa, b));
    const boxed = autocast(() => aten('linear')(xa, wa, b));
    assert.equal(fast.dtype, 'bfloat16');
    same(fast, boxed, 'autocast');
    same(
      autocast(() => xa.add(1)),
      autocast(() => aten('add', 'Scalar')(xa, 1)),
      'autocast add',
    );
    // noGrad with a tensor that requires grad: no graph either way
    same(
      noGrad(() => w.mul(2)),
      noGrad(() => aten('mul', 'Scalar')(w, 2)),
      'noGrad mul',
    );
    same(w.add(0.5), aten('add', 'Scalar')(w, 0.5), 'requires_grad scalar add');
  });
});

test('GRAFT_FAST_OPS=0 (every op through the dispatcher) gives the same bytes', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const script = `
    import { linear, manualSeed, randn } from ${JSON.stringify(join(here, '../../src/tensor/index.ts'))};
    manualSeed(7);
    const x = randn([4, 6]); const w = randn([3, 6]); const b = randn([3]);
    const outs = [x.add(0.1), x.mul(x.T.T), x.sub(b.sum(), 2), linear(x, w, b), x.relu().div(3)];
    console.log(JSON.stringify(outs.map((t) => Buffer.from(t.bytes()).toString('hex'))));
  `;
  const run = (fast: string) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, GRAFT_FAST_OPS: fast },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  assert.deepEqual(run('0'), run('1'));
});
