// Errors are coded JS errors that name the op and shapes, and the process keeps working;
// disposed tensors throw DisposedError; tidy() frees temporaries and keeps what it returns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError, DisposedError, GraftError, TorchError } from '../../src/errors.ts';
import { aten, dispose, F, matmul, mm, ones, randn, type Tensor, tensor, tidy, zeros } from '../../src/tensor/index.ts';

const isTorch =
  (op: RegExp, ...parts: RegExp[]) =>
  (e: unknown) => {
    assert.ok(e instanceof TorchError, `expected a TorchError, got ${(e as Error)?.constructor?.name}: ${e}`);
    assert.ok(e instanceof GraftError);
    assert.equal(e.code, 'GRAFT_TORCH');
    assert.match(e.message, op);
    for (const p of parts) assert.match(e.message, p);
    return true;
  };

test('a shape mismatch throws a TorchError naming the op and both shapes; the next op works', () => {
  const a = randn([2, 3]);
  const b = randn([4, 5]);
  assert.throws(() => a.add(b), isTorch(/aten::add/, /\[2, 3\]/, /\[4, 5\]/));
  try {
    a.add(b);
  } catch (e) {
    assert.equal((e as TorchError).op, 'aten::add.Tensor');
  }
  assert.throws(() => matmul(a, b), isTorch(/aten::matmul/, /\[2, 3\]/, /\[4, 5\]/));
  assert.throws(
    () => F.conv2d(randn([1, 2, 5, 5]), randn([4, 3, 3, 3])),
    isTorch(/aten::conv2d/, /\[1, 2, 5, 5\]/, /\[4, 3, 3, 3\]/),
  );
  assert.deepEqual(a.add(ones([3])).shape, [2, 3]);
  assert.equal(
    tensor([1, 2])
      .add(tensor([3, 4]))
      .sum()
      .item(),
    10,
  );
});

test('a wrong dtype throws a TorchError naming the op and the dtypes', () => {
  const f32 = randn([2, 2]);
  const f64 = randn([2, 2], { dtype: 'float64' });
  assert.throws(() => mm(f32, f64), isTorch(/aten::mm/, /Float/, /Double/));
  assert.throws(() => f32.indexSelect(0, tensor([0, 1])), isTorch(/aten::index_select/));
  assert.throws(() => f32.gather(0, tensor([[0, 1]])), isTorch(/aten::gather/, /int64/));
  assert.throws(() => F.embedding(tensor([0, 1]), f32), isTorch(/aten::embedding/));
  assert.deepEqual(mm(f32, f64.float()).shape, [2, 2]);
});

test('wrong JS arguments are ArgumentErrors that name the op and argument', () => {
  const x = randn([2]);
  assert.throws(
    () => x.add('a' as unknown as number),
    (e: Error) => e instanceof ArgumentError && /aten::add/.test(e.message),
  );
  assert.throws(
    () => aten('add', 'Tensor')(x),
    (e: Error) => e instanceof ArgumentError && /missing argument 'other'/.test(e.message),
  );
  assert.throws(
    () => aten('neg')(x, x, x),
    (e: Error) => e instanceof ArgumentError && /arguments given/.test(e.message),
  );
  assert.throws(
    () => x.reshape(1.5),
    (e: Error) => e instanceof ArgumentError && /integer/.test(e.message),
  );
  assert.throws(
    () => aten('no_such_op'),
    (e: Error) => e instanceof GraftError && e.code === 'GRAFT_NO_OP',
  );
  assert.deepEqual(aten('add', 'Tensor')(x, x).shape, [2]);
});

// libtorch 1.13 throws std::runtime_error (not c10::Error) from infer_size
test('an impossible view() is a TorchError naming the op and shape', () => {
  assert.throws(() => randn([2, 3]).view(4, 2), isTorch(/aten::view/, /\[2, 3\]/));
});

test('item() on a tensor with several elements throws a GraftError', () => {
  assert.throws(() => randn([3]).item(), GraftError);
});

test('an assigned grad of the wrong shape is refused at once; requiresGrad=false on a non-leaf errors', () => {
  const x = ones([2]).requiresGrad_();
  assert.throws(() => {
    x.grad = ones([3]);
  }, /shape \[3\]/);
  const y = x.mul(2);
  assert.throws(() => {
    y.requiresGrad = false;
  }, /leaf/);
  assert.throws(() => ones([1]).retainGrad(), GraftError);
});

test('a disposed tensor throws DisposedError everywhere; dispose is idempotent; other handles survive', () => {
  const t = randn([2, 2]);
  const v = t.view(4);
  t.dispose();
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.shape, DisposedError);
  assert.throws(() => t.add(1), DisposedError);
  assert.throws(() => ones([2, 2]).add(t), DisposedError);
  assert.throws(() => t.toArray(), DisposedError);
  assert.equal(v.isDisposed, false);
  assert.equal(v.numel(), 4);
  const u = ones([1]);
  u[Symbol.dispose]();
  assert.equal(u.isDisposed, true);
  assert.throws(() => u.requiresGrad, DisposedError);
  let held: Tensor | undefined;
  {
    using w = ones([1]);
    held = w;
    assert.equal(w.item(), 1);
  }
  assert.equal(held.isDisposed, true);
});

test('dispose() frees tensors inside arrays and objects', () => {
  const a = ones([1]);
  const b = ones([1]);
  const c = ones([1]);
  dispose([a, { b }], c, 5, 'x');
  assert.ok(a.isDisposed && b.isDisposed && c.isDisposed);
});

test('tidy() frees temporaries and keeps what it returns (a tensor, arrays and objects of them)', () => {
  const outside = randn([3]);
  const temps: Tensor[] = [];
  const r = tidy(() => {
    const a = outside.mul(2);
    const b = a.exp();
    temps.push(a, b, outside.view(3, 1));
    return b.sum();
  });
  assert.ok(temps.every((t) => t.isDisposed));
  assert.equal(r.isDisposed, false);
  assert.equal(outside.isDisposed, false);
  assert.ok(Number.isFinite(r.item()));

  let kept: Tensor | undefined;
  let inner: Tensor | undefined;
  const { xs, y } = tidy(() => {
    kept = zeros([1]).keep();
    const pair = [ones([1]), ones([2])];
    inner = tidy(() => ones([3]).mul(2));
    temps.push(ones([4]));
    return { xs: pair, y: inner };
  });
  assert.equal(temps.at(-1)!.isDisposed, true);
  assert.ok(xs.every((t) => !t.isDisposed));
  assert.equal(y.isDisposed, false);
  assert.equal(kept!.isDisposed, false);
});

test('tidy(): the keep list survives; a throw frees everything and rethrows; async functions are refused', () => {
  let a: Tensor | undefined;
  let b: Tensor | undefined;
  tidy(() => {
    a = ones([1]);
    b = ones([1]);
    return 1;
  }, []);
  assert.ok(a!.isDisposed && b!.isDisposed);
  const keep: Tensor[] = [];
  tidy(() => {
    keep.push(ones([1]));
  }, keep);
  const kept = keep[0]!;
  assert.equal(kept.isDisposed, false);

  let temp: Tensor | undefined;
  assert.throws(
    () =>
      tidy(() => {
        temp = ones([2]);
        temp.add(randn([3]));
      }),
    TorchError,
  );
  assert.equal(temp!.isDisposed, true);
  assert.throws(() => tidy((async () => ones([1])) as () => unknown), /synchronous/);
  assert.equal(ones([2]).sum().item(), 2);
});

test('the gradient of a leaf survives a tidy() that ran backward', () => {
  const w = randn([3]).requiresGrad_();
  tidy(() => {
    w.mul(w).sum().backward();
  });
  const g = w.grad!;
  assert.equal(g.isDisposed, false);
  assert.equal(g.numel(), 3);
});
