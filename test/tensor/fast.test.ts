// The fast paths (native/fast_*.cc) against the boxed dispatcher (aten(), which always goes through
// opCall) on a matrix of shapes, dtypes and scalars: same dtype (type promotion), shape
// (broadcasting), bytes, autograd state and gradients, and the same error for the same mistake.
// Also: skipping the autograd kernels for plain tensors keeps version counters (an in-place change
// of a saved tensor still fails backward), and a trace still sees every op.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  aten,
  type DType,
  F,
  linear,
  matmul,
  mean,
  randn,
  sum,
  type Tensor,
  tensor,
  tidy,
  traceOps,
} from '../../src/tensor/index.ts';

function same(fast: unknown, boxed: unknown, what: string): void {
  const f = fast as Tensor;
  const b = boxed as Tensor;
  assert.equal(f.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(f.shape, b.shape, `${what}: shape`);
  assert.deepEqual(f.bytes(), b.bytes(), `${what}: values`);
  assert.equal(f.requiresGrad, b.requiresGrad, `${what}: requiresGrad`);
  assert.equal(f.gradFn, b.gradFn, `${what}: gradFn`);
}

/** Both calls give the same tensor, or both throw the same error. */
function agree(what: string, fast: () => unknown, boxed: () => unknown): void {
  let fr: unknown;
  let br: unknown;
  let fe: Error | undefined;
  let be: Error | undefined;
  try {
    fr = fast();
  } catch (e) {
    fe = e as Error;
  }
  try {
    br = boxed();
  } catch (e) {
    be = e as Error;
  }
  if (be || fe) {
    assert.ok(be && fe, `${what}: only one path threw: ${(be ?? fe)?.message}`);
    assert.equal(fe.constructor, be.constructor, `${what}: error class`);
    assert.equal(fe.message, be.message, `${what}: error message`);
    return;
  }
  same(fr, br, what);
}

const make = (shape: number[], dtype: DType, seed: number): Tensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from(
    { length: n },
    (_, i) => ((i * 7 + seed * 3) % 11) - 4 + (dtype.startsWith('float') ? 0.25 : 0),
  );
  const flat = tensor(dtype === 'bool' ? vals.map((v) => (v > 0 ? 1 : 0)) : vals, { dtype: 'float64' });
  return flat.reshape(shape).to(dtype);
};

const DTYPES: DType[] = ['float32', 'float64', 'int64', 'int32', 'uint8', 'bool', 'bfloat16'];
const SHAPES: [number[], number[]][] = [
  [[4], [4]],
  [[2, 3], [3]],
  [
    [2, 1, 3],
    [4, 1],
  ],
  [[], [2, 2]],
  [[0, 3], [3]],
];
const SCALARS = [2, -3, 0.5, true, 2 ** 40, Number.NaN, Number.POSITIVE_INFINITY];

test('binary ops: tensor-tensor over dtypes x broadcast shapes (type promotion), with and without alpha', () => {
  tidy(() => {
    for (const [sa, sb] of SHAPES)
      for (const da of DTYPES)
        for (const db of DTYPES) {
          const a = make(sa, da, 1);
          const b = make(sb, db, 2);
          const tag = `${da}[${sa}] ${db}[${sb}]`;
          agree(
            `add ${tag}`,
            () => a.add(b),
            () => aten('add', 'Tensor')(a, b),
          );
          agree(
            `add alpha ${tag}`,
            () => a.add(b, 2),
            () => aten('add', 'Tensor')(a, b, 2),
          );
          agree(
            `sub alpha 0.5 ${tag}`,
            () => a.sub(b, 0.5),
            () => aten('sub', 'Tensor')(a, b, 0.5),
          );
          agree(
            `mul ${tag}`,
            () => a.mul(b),
            () => aten('mul', 'Tensor')(a, b),
          );
          agree(
            `div ${tag}`,
            () => a.div(b),
            () => aten('div', 'Tensor')(a, b),
          );
        }
  });
});

test('binary ops: tensor-scalar (int, float, bool, huge, nan, inf scalars) over dtypes', () => {
  tidy(() => {
    for (const d of DTYPES)
      for (const s of SCALARS) {
        const a = make([2, 3], d, 3);
        const tag = `${d} ${s}`;
        agree(
          `add ${tag}`,
          () => a.add(s as number),
          () => aten('add', 'Scalar')(a, s),
        );
        agree(
          `sub alpha ${tag}`,
          () => a.sub(s as number, 3),
          () => aten('sub', 'Scalar')(a, s, 3),
        );
        agree(
          `mul ${tag}`,
          () => a.mul(s as number),
          () => aten('mul', 'Scalar')(a, s),
        );
        agree(
          `div ${tag}`,
          () => a.div(s as number),
          () => aten('div', 'Scalar')(a, s),
        );
      }
  });
});

test('in-place ops write the same values and refuse the same promotions', () => {
  tidy(() => {
    for (const da of DTYPES)
      for (const other of [...DTYPES.map((d) => make([3], d, 5)), 2, 0.5, true]) {
        const tag = `${da} ${typeof other === 'object' ? other.dtype : other}`;
        for (const name of ['add_', 'sub_', 'mul_', 'div_'] as const) {
          const x = make([2, 3], da, 4);
          const y = make([2, 3], da, 4);
          const ov = typeof other === 'object' ? 'Tensor' : 'Scalar';
          agree(
            `${name} ${tag}`,
            () => (x as unknown as Record<string, (o: unknown) => Tensor>)[name]!(other),
            () => aten(name, ov)(y, other),
          );
        }
      }
  });
});

test('unary, matrix, reduction, view and layer ops agree, with gradients', () => {
  tidy(() => {
    const x = randn([3, 4], { requiresGrad: true });
    const w = randn([5, 4], { requiresGrad: true });
    const b = randn([5]);
    const img = randn([2, 3, 8, 8]);
    const cw = randn([4, 3, 3, 3], { requiresGrad: true });
    const cases: [string, () => Tensor, () => Tensor][] = [
      ['relu', () => x.relu(), () => aten('relu')(x)],
      ['sigmoid', () => x.sigmoid(), () => aten('sigmoid')(x)],
      ['tanh', () => x.tanh(), () => aten('tanh')(x)],
      ['exp', () => x.exp(), () => aten('exp')(x)],
      ['log of negatives', () => x.log(), () => aten('log')(x)],
      ['sqrt', () => x.abs().sqrt(), () => aten('sqrt')(aten('abs')(x))],
      ['neg', () => x.neg(), () => aten('neg')(x)],
      ['matmul', () => matmul(x, w.T), () => aten('matmul')(x, aten('transpose', 'int')(w, -2, -1))],
      ['linear', () => linear(x, w, b), () => aten('linear')(x, w, b)],
      ['linear no bias', () => linear(x, w), () => aten('linear')(x, w)],
      ['sum', () => sum(x), () => aten('sum')(x)],
      [
        'sum int64',
        () => sum(tensor([1, 2, 3], { dtype: 'int32' })),
        () => aten('sum')(tensor([1, 2, 3], { dtype: 'int32' })),
      ],
      ['sum dims keepdim', () => sum(x, [0, 1], true), () => aten('sum', 'dim_IntList')(x, [0, 1], true)],
      ['mean dim', () => mean(x, 1), () => aten('mean', 'dim')(x, [1], false)],
      ['view', () => x.view(4, 3), () => aten('view')(x, [4, 3])],
      ['reshape -1', () => x.reshape(-1), () => aten('reshape')(x, [-1])],
      ['transpose', () => x.transpose(0, 1), () => aten('transpose', 'int')(x, 0, 1)],
      ['permute', () => img.permute(0, 2, 3, 1), () => aten('permute')(img, [0, 2, 3, 1])],
      ['flatten', () => img.flatten(1), () => aten('flatten', 'using_ints')(img, 1, -1)],
      ['unsqueeze', () => x.unsqueeze(-1), () => aten('unsqueeze')(x, -1)],
      ['squeeze', () => x.unsqueeze(0).squeeze(), () => aten('squeeze')(aten('unsqueeze')(x, 0))],
      ['select', () => x.select(1, -1), () => aten('select', 'int')(x, 1, -1)],
      ['narrow', () => x.narrow(1, 1, 2), () => aten('narrow')(x, 1, 1, 2)],
      ['slice step', () => x.slice(1, 0, undefined, 2), () => aten('slice', 'Tensor')(x, 1, 0, null, 2)],
      ['expand', () => b.unsqueeze(0).expand(3, 5), () => aten('expand')(aten('unsqueeze')(b, 0), [3, 5])],
      [
        'index_select',
        () => x.indexSelect(0, tensor([2, 0], { dtype: 'int64' })),
        () => aten('index_select')(x, 0, tensor([2, 0], { dtype: 'int64' })),
      ],
      [
        'gather',
        () => x.gather(1, tensor([[0], [3], [1]], { dtype: 'int64' })),
        () => aten('gather')(x, 1, tensor([[0], [3], [1]], { dtype: 'int64' })),
      ],
      ['softmax', () => x.softmax(1), () => aten('softmax', 'int')(x, 1)],
      ['log_softmax', () => x.logSoftmax(0), () => aten('log_softmax', 'int')(x, 0)],
      [
        'conv2d',
        () => F.conv2d(img, cw, undefined, { padding: 1, stride: 2 }),
        () => aten('conv2d')(img, cw, undefined, [2, 2], [1, 1], [1, 1], 1),
      ],
      ['max_pool2d', () => F.maxPool2d(img, 2), () => aten('max_pool2d')(img, [2, 2], [2, 2], [0, 0], [1, 1], false)],
      ['adaptive_avg_pool2d', () => F.adaptiveAvgPool2d(img, 1), () => aten('adaptive_avg_pool2d')(img, [1, 1])],
    ];
    for (const [what, f, bx] of cases) {
      agree(what, f, bx);
      // the same gradient flows back through both
      const fo = f();
      if (!fo.requiresGrad) continue;
      fo.sum().backward();
      const leaves = [x, w, cw].filter((l) => l.grad !== undefined);
      const fastGrads = leaves.map((l) => l.grad!.clone());
      for (const l of leaves) l.zeroGrad();
      bx().sum().backward();
      for (const [i, l] of leaves.entries())
        assert.deepEqual(l.grad!.bytes(), fastGrads[i]!.bytes(), `${what}: gradient`);
      for (const l of [x, w, cw]) l.zeroGrad();
    }
  });
});

test('errors name the op and the tensors exactly as the boxed path does', () => {
  tidy(() => {
    const a = randn([2, 3]);
    const b = randn([4, 5]);
    agree(
      'add shapes',
      () => a.add(b),
      () => aten('add', 'Tensor')(a, b),
    );
    agree(
      'mm dtypes',
      () => matmul(a, randn([3, 2], { dtype: 'float64' })),
      () => aten('matmul')(a, randn([3, 2], { dtype: 'float64' })),
    );
    agree(
      'view',
      () => a.view(4, 2),
      () => aten('view')(a, [4, 2]),
    );
    agree(
      'bad scalar',
      () => a.add('x' as unknown as number),
      () => aten('add', 'Scalar')(a, 'x'),
    );
    agree(
      'bad int',
      () => a.reshape(1.5),
      () => aten('reshape')(a, [1.5]),
    );
    agree(
      'index out of range',
      () => a.select(0, 5),
      () => aten('select', 'int')(a, 0, 5),
    );
  });
});

test('a plain tensor saved for backward and then changed in place still fails backward', () => {
  const s = randn([3], { requiresGrad: true });
  const plain = randn([3]);
  const y = s.mul(plain); // saves `plain` for the gradient of s
  plain.add_(1); // fast path, below the autograd kernel: the version counter must still move
  assert.throws(() => y.sum().backward(), /modified by an inplace operation/);
});

test('a trace sees the ops that take the fast path, with the same arguments', () => {
  const a = randn([2, 3]);
  const b = randn([3]);
  const seen: string[] = [];
  traceOps(
    () => tidy(() => a.add(b, 2).relu().sum(1).view(2, 1)),
    (op) => seen.push(`${op.name}.${op.overload}/${op.args.length}`),
  );
  assert.deepEqual(seen, ['aten::add.Tensor/3', 'aten::relu./1', 'aten::sum.dim_IntList/3', 'aten::view./2']);
});
