// The lean backward executor (native/autograd_lean.cc) against libtorch's Engine::execute: every
// graph is built twice from the same seed and differentiated once by each; the gradients must be
// bit-identical (bytes, shape, strides, dtype), and the lean executor must run where it may and
// hand over to the engine where it must not (hooks, retainGrad, leaf or non-scalar roots).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TorchError } from '../../src/errors.ts';
import { backwardRootTraced } from '../../src/tensor/autograd_native.ts';
import {
  aten,
  autocast,
  crossEntropy,
  F,
  linear,
  manualSeed,
  randint,
  randn,
  type Tensor,
  tensor,
  toMemoryFormat,
} from '../../src/tensor/index.ts';

interface Graph {
  leaves: Tensor[];
  /** builds the (scalar) output from the leaves; called once per backward */
  out: () => Tensor;
}

interface GradState {
  bytes: string;
  shape: number[];
  strides: number[];
  dtype: string;
}

const state = (g: Tensor | undefined): GradState | undefined =>
  g === undefined
    ? undefined
    : { bytes: Buffer.from(g.bytes()).toString('hex'), shape: g.shape, strides: g.strides(), dtype: g.dtype };

/**
 * Builds the graph from `seed` for each executor, runs `passes` backward calls (fresh forward each
 * time, so gradients accumulate into existing .grad too) and compares all leaves' gradients.
 */
function same(build: () => Graph, o: { passes?: number; retainTwice?: boolean; expectLean?: boolean } = {}) {
  const results: (GradState | undefined)[][] = [];
  for (const lean of [true, false]) {
    manualSeed(7);
    const g = build();
    for (let p = 0; p < (o.passes ?? 2); p++) {
      const y = g.out();
      if (o.retainTwice) {
        assert.equal(backwardRootTraced(y, true, lean), lean && (o.expectLean ?? true));
        assert.equal(backwardRootTraced(y, undefined, lean), lean && (o.expectLean ?? true));
      } else assert.equal(backwardRootTraced(y, undefined, lean), lean && (o.expectLean ?? true));
    }
    results.push(g.leaves.map((l) => state(l.grad)));
  }
  assert.deepEqual(results[0], results[1]);
  return results[0]!;
}

const leaf = (shape: number[], dtype: 'float32' | 'float64' = 'float32') => randn(shape, { dtype }).requiresGrad_();

test('the bench case: mul + sum, gradients accumulate over passes', () => {
  const r = same(
    () => {
      const x = leaf([4, 4]);
      return { leaves: [x], out: () => x.mul(x).sum() };
    },
    { passes: 3 },
  );
  assert.ok(r[0]);
});

test('shared inputs used many times and non-leaf branches', () => {
  same(() => {
    const x = leaf([3, 5]);
    const w = leaf([5, 4]);
    return {
      leaves: [x, w],
      out: () => {
        const h = x.matmul(w);
        const a = h.relu().mul(h.sigmoid());
        return a.mean().add(h.pow(2).sum()).add(x.mul(x).add(x.exp()).mul(x).sum());
      },
    };
  });
});

test('views, transposes, broadcasting and expand feed matmuls', () => {
  same(() => {
    const x = leaf([6, 4]);
    const w = leaf([4, 6]);
    const b = leaf([6]);
    return {
      leaves: [x, w, b],
      out: () => {
        const t = x.T.matmul(w.T); // [4,4] from transposed views
        const v = x.view(4, 6).add(b).narrow(0, 1, 2).select(1, 3);
        const e = b
          .narrow(0, 1, 4)
          .unsqueeze(0)
          .expand(3, 4)
          .mul(x.narrow(0, 0, 3));
        return t.sum().add(v.sum()).add(e.logsumexp(1).sum());
      },
    };
  });
});

test('in-place ops on non-leaves and on views (CopySlices)', () => {
  same(() => {
    const x = leaf([4, 5]);
    return {
      leaves: [x],
      out: () => {
        const y = x.mul(2);
        y.add_(1);
        y.narrow(0, 1, 2).mul_(3);
        y.select(1, 0).add_(y.select(1, 4));
        y.relu_();
        return y.pow(2).sum();
      },
    };
  });
});

test('undefined gradients (unused outputs), integer tensors and mixed dtypes', () => {
  same(() => {
    const x = leaf([6, 3]);
    const d = leaf([3], 'float64');
    const idx = tensor([2, 0, 1]).long();
    return {
      leaves: [x, d],
      out: () => {
        const [a] = x.split(2, 0); // SplitBackward gets undefined grads for the other chunks
        const g = x.gather(1, idx.unsqueeze(0).expand(6, 3));
        const m = x.argmax(1); // integer, no gradient
        return a!
          .sum()
          .add(g.mul(m.float().unsqueeze(1)).sum())
          .add(d.float().mul(x).sum())
          .double()
          .add(d.sum());
      },
    };
  });
});

test('a linear layer, cross entropy, conv2d in channels_last and batch norm', () => {
  same(() => {
    const x = leaf([2, 3, 6, 6]);
    const k = leaf([4, 3, 3, 3]);
    const gamma = leaf([4]);
    const beta = leaf([4]);
    const w = leaf([5, 16]);
    const bias = leaf([5]);
    const target = randint(0, 5, [2]);
    return {
      leaves: [x, k, gamma, beta, w, bias],
      out: () => {
        const c = F.conv2d(toMemoryFormat(x, 'channels_last'), k, undefined, { padding: 1 });
        const n = F.batchNorm(c, undefined, undefined, gamma, beta, true).relu();
        const p = F.adaptiveAvgPool2d(n, [2, 2]).flatten(1);
        return crossEntropy(linear(p, w, bias), target);
      },
    };
  });
});

test('a sparse embedding gradient meets a dense one in the same buffer', () => {
  const embedding = aten('aten::embedding');
  for (const order of [0, 1]) {
    same(
      () => {
        const w = leaf([10, 3]);
        const idx = tensor([1, 2, 2, 7]).long();
        return {
          leaves: [w],
          out: () => {
            const sparse = (embedding(w, idx, -1, false, true) as Tensor).sum();
            const dense = w.mul(2).sum();
            return order === 0 ? sparse.add(dense) : dense.add(sparse);
          },
        };
      },
      { passes: 1 },
    );
  }
});

test('autocast (bfloat16) regions differentiate the same way', () => {
  same(() => {
    const x = leaf([4, 8]);
    const w = leaf([3, 8]);
    return { leaves: [x, w], out: () => autocast(() => linear(x, w).relu().sum()).float() };
  });
});

test('retainGraph keeps the graph for a second backward through it', () => {
  same(
    () => {
      const x = leaf([3, 3]);
      return { leaves: [x], out: () => x.mul(x).sigmoid().sum() };
    },
    { retainTwice: true, passes: 1 },
  );
});

test('an error inside a backward node is a TorchError with the engine message; the process goes on', () => {
  const messages: string[] = [];
  for (const lean of [true, false]) {
    const x = randn([3]).requiresGrad_();
    const y = x.mul(x).sum();
    backwardRootTraced(y, undefined, lean);
    // the saved tensors were freed: the second backward fails inside MulBackward0
    assert.throws(
      () => backwardRootTraced(y, undefined, lean),
      (e: Error) => e instanceof TorchError && messages.push(e.message) > 0,
    );
    // a saved tensor modified in place: fails inside the node too
    const z = x.mul(2);
    const s = z.mul(z);
    z.add_(1);
    assert.throws(
      () => backwardRootTraced(s.sum(), undefined, lean),
      (e: Error) => e instanceof TorchError && messages.push(e.message) > 0,
    );
    // and the next backward works
    const before = x.grad!.toArray();
    backwardRootTraced(x.mul(3).sum(), undefined, lean);
    assert.deepEqual(
      x.grad!.toArray(),
      before.map((v) => Math.fround(v + 3)),
    );
  }
  assert.equal(messages.length, 4);
  assert.match(messages[0]!, /backward through the graph a second time/);
  assert.equal(messages[0], messages[2]);
  assert.equal(messages[1], messages[3]);
});

test('the engine runs where the lean executor must not', () => {
  // retainGrad: a hook on an intermediate node
  same(
    () => {
      const x = leaf([3]);
      return {
        leaves: [x],
        out: () => {
          const h = x.mul(2).retainGrad();
          return h.mul(h).sum();
        },
      };
    },
    { expectLean: false },
  );
  // a leaf as the root
  const s = randn([1]).requiresGrad_();
  assert.equal(backwardRootTraced(s, undefined, true), false);
  assert.deepEqual(s.grad!.toArray(), [1]);
  // a non-scalar root: the engine's own error
  const v = randn([2]).requiresGrad_().mul(2);
  assert.throws(
    () => backwardRootTraced(v, undefined, true),
    (e: Error) => e instanceof TorchError && /scalar outputs/.test(e.message),
  );
  // a root that does not require grad
  assert.throws(() => backwardRootTraced(randn([1]), undefined, true), TorchError);
});

test('Tensor.backward takes the lean route and agrees with backward([t]) through the engine', () => {
  manualSeed(3);
  const x = leaf([5, 5]);
  x.mul(x).tanh().sum().backward();
  const a = state(x.grad);
  x.zeroGrad();
  backwardRootTraced(x.mul(x).tanh().sum(), undefined, false);
  assert.deepEqual(state(x.grad), a);
});
