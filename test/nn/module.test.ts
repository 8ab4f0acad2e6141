// Module base: registration order, traversal, state dicts, modes, dtype/device moves, containers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as nn from '../../src/nn/index.ts';
import { ones, randn, type Tensor, tidy, zeros } from '../../src/tensor/index.ts';

class Block extends nn.Module {
  conv: nn.Conv2d;
  bn: nn.BatchNorm2d;
  constructor() {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(2, 3, 3, { bias: false }));
    this.bn = this.registerModule('bn', new nn.BatchNorm2d(3));
  }
  forward(x: Tensor): Tensor {
    return this.bn.call(this.conv.call(x));
  }
}

class Net extends nn.Module {
  scale: nn.Parameter;
  stem: Block;
  head: nn.Sequential;
  constructor() {
    super();
    this.scale = this.registerParameter('scale', ones([1]));
    this.registerParameter('unused', undefined);
    this.registerBuffer('table', zeros([2]));
    this.registerBuffer('cache', zeros([2]), { persistent: false });
    this.stem = this.registerModule('stem', new Block());
    this.head = this.registerModule('head', new nn.Sequential(new nn.Flatten(), new nn.ReLU(), new nn.Linear(12, 4)));
  }
  forward(x: Tensor): Tensor {
    return this.head.call(this.stem.call(x)).mul(this.scale);
  }
}

const X = () => randn([2, 2, 4, 4]);

describe('registration and traversal', () => {
  test('state-dict keys in PyTorch order, non-persistent buffers and None entries left out', () => {
    const keys = [...new Net().stateDict().keys()];
    assert.deepEqual(keys, [
      'scale',
      'table',
      'stem.conv.weight',
      'stem.bn.weight',
      'stem.bn.bias',
      'stem.bn.running_mean',
      'stem.bn.running_var',
      'stem.bn.num_batches_tracked',
      'head.2.weight',
      'head.2.bias',
    ]);
  });

  test('namedParameters, namedBuffers, namedModules, children', () => {
    const m = new Net();
    assert.deepEqual(
      [...m.namedParameters()].map(([k]) => k),
      ['scale', 'stem.conv.weight', 'stem.bn.weight', 'stem.bn.bias', 'head.2.weight', 'head.2.bias'],
    );
    assert.deepEqual(
      [...m.namedBuffers()].map(([k]) => k),
      ['table', 'cache', 'stem.bn.running_mean', 'stem.bn.running_var', 'stem.bn.num_batches_tracked'],
    );
    assert.deepEqual(
      [...m.namedModules()].map(([k, v]) => `${k}:${v.constructor.name}`),
      [
        ':Net',
        'stem:Block',
        'stem.conv:Conv2d',
        'stem.bn:BatchNorm2d',
        'head:Sequential',
        'head.0:Flatten',
        'head.1:ReLU',
        'head.2:Linear',
      ],
    );
    assert.deepEqual(
      [...m.namedChildren()].map(([k]) => k),
      ['stem', 'head'],
    );
    assert.ok(m.parameters().every((p) => p instanceof nn.Parameter && p.requiresGrad));
    assert.deepEqual(
      [...m.namedParameters({ recurse: false })].map(([k]) => k),
      ['scale'],
    );
  });

  test('tied weights: one parameter, two state-dict keys (like GPT-2 lm_head / wte)', () => {
    class Tied extends nn.Module {
      emb = this.registerModule('emb', new nn.Embedding(5, 3));
      out = this.registerModule('out', new nn.Linear(3, 5, { bias: false }));
      constructor() {
        super();
        this.out.registerParameter('weight', this.emb.weight);
      }
      forward(x: Tensor): Tensor {
        return this.out.call(this.emb.call(x));
      }
    }
    const m = new Tied();
    assert.equal(m.out.weight, m.emb.weight, 'the field follows the registry');
    assert.deepEqual(
      [...m.namedParameters()].map(([k]) => k),
      ['emb.weight'],
    );
    assert.deepEqual([...m.stateDict().keys()], ['emb.weight', 'out.weight']);
    assert.equal(m.numParameters(), 15);
  });

  test('names with dots and duplicate kinds are rejected', () => {
    const m = new Net();
    assert.throws(() => m.registerModule('a.b', new nn.ReLU()), { code: 'GRAFT_ARGS' });
    assert.throws(() => m.registerBuffer('scale', zeros([1])), { code: 'GRAFT_ARGS' });
  });

  test('getSubmodule / setSubmodule replace a head in place, keeping key order', () => {
    const m = new Net();
    assert.equal(m.getSubmodule('head.2'), m.head.at(2));
    assert.equal(m.getSubmodule(''), m);
    const fc = new nn.Linear(12, 7);
    m.setSubmodule('head.2', fc);
    assert.equal(m.head.at(2), fc);
    assert.deepEqual(m.call(X()).shape, [2, 7]);
    const stem = new Block();
    m.setSubmodule('stem', stem);
    assert.equal(m.stem, stem, 'the field is updated');
    assert.equal([...m.stateDict().keys()][2], 'stem.conv.weight');
    assert.throws(() => m.getSubmodule('head.9'), { code: 'GRAFT_ARGS', message: /no submodule '9' in 'head'/ });
    assert.equal(m.getParameter('head.2.bias'), fc.bias);
  });
});

describe('state dicts', () => {
  test('stateDict detaches and shares storage; keepVars returns the parameters', () => {
    const m = new Net();
    const sd = m.stateDict();
    assert.equal(sd.get('scale')!.requiresGrad, false);
    sd.get('scale')!.fill_(3);
    assert.equal(m.scale.item(), 3);
    assert.equal(m.stateDict({ keepVars: true }).get('scale'), m.scale);
  });

  test('loadStateDict copies in place, converting dtype, keeping identity', () =>
    tidy(() => {
      const a = new Net();
      const b = new Net();
      const w = b.stem.conv.weight;
      const sd = a.stateDict();
      sd.set('scale', ones([1], { dtype: 'float64' }).mul(2));
      const r = b.loadStateDict(sd);
      assert.deepEqual(r, { missingKeys: [], unexpectedKeys: [] });
      assert.equal(b.stem.conv.weight, w);
      assert.deepEqual(w.toArray(), a.stem.conv.weight.toArray());
      assert.equal(b.scale.item(), 2);
      assert.equal(b.scale.dtype, 'float32');
      assert.ok(b.scale.requiresGrad);
    }));

  test('strict: missing and unexpected keys throw a coded error and copy nothing', () => {
    const m = new Net();
    const before = m.stem.conv.weight.toArray();
    const sd = new Net().stateDict();
    sd.delete('head.2.bias');
    sd.set('extra', zeros([1]));
    assert.throws(
      () => m.loadStateDict(sd),
      (e: any) => {
        assert.equal(e.code, 'GRAFT_STATE_DICT');
        assert.ok(e instanceof nn.StateDictError);
        assert.deepEqual(e.missingKeys, ['head.2.bias']);
        assert.deepEqual(e.unexpectedKeys, ['extra']);
        return true;
      },
    );
    assert.deepEqual(m.stem.conv.weight.toArray(), before);
    const r = m.loadStateDict(sd, { strict: false });
    assert.deepEqual(r, { missingKeys: ['head.2.bias'], unexpectedKeys: ['extra'] });
    assert.notDeepEqual(m.stem.conv.weight.toArray(), before);
  });

  test('a shape mismatch names the key and both shapes, even when not strict', () => {
    const m = new Net();
    const sd = m.stateDict();
    sd.set('head.2.weight', zeros([1000, 12]));
    for (const strict of [true, false])
      assert.throws(() => m.loadStateDict(sd, { strict }), {
        code: 'GRAFT_STATE_DICT',
        message: /size mismatch for head\.2\.weight: checkpoint \[1000, 12\], model \[4, 12\]/,
      });
  });

  test('a plain object works, and a missing num_batches_tracked is reset as PyTorch does', () => {
    const m = new nn.BatchNorm2d(2);
    m.numBatchesTracked!.fill_(5);
    const r = m.loadStateDict({
      weight: ones([2]),
      bias: zeros([2]),
      running_mean: zeros([2]),
      running_var: ones([2]),
    });
    assert.deepEqual(r.missingKeys, []);
    assert.equal(m.numBatchesTracked!.item(), 0);
  });
});

describe('modes and bulk operations', () => {
  test('train / eval reach every module; apply visits children first', () => {
    const m = new Net().eval();
    assert.ok([...m.modules()].every((x) => !x.training));
    m.train();
    assert.ok([...m.modules()].every((x) => x.training));
    const seen: string[] = [];
    m.apply((x) => seen.push(x.constructor.name));
    assert.deepEqual(seen, ['Conv2d', 'BatchNorm2d', 'Block', 'Flatten', 'ReLU', 'Linear', 'Sequential', 'Net']);
  });

  test('requiresGrad_, numParameters, zeroGrad', () => {
    const m = new Net();
    assert.equal(m.numParameters(), 1 + 54 + 6 + 48 + 4);
    m.stem.requiresGrad_(false);
    assert.equal(m.numParameters({ trainableOnly: true }), 1 + 48 + 4);
    m.call(X()).sum().backward();
    assert.ok(m.head.at<nn.Linear>(2).weight.grad);
    assert.equal(m.stem.conv.weight.grad, undefined);
    m.zeroGrad();
    assert.ok(m.parameters().every((p) => p.grad === undefined));
  });

  test('to(dtype) casts floating tensors only; fields and tied weights follow; to(device) keeps identity', () => {
    const m = new Net();
    const w = m.stem.conv.weight;
    m.to('cpu');
    assert.equal(m.stem.conv.weight, w, 'same device: same object');
    m.to('float64');
    assert.equal(m.stem.conv.weight.dtype, 'float64');
    assert.equal(m.getParameter('stem.conv.weight'), m.stem.conv.weight);
    assert.ok(m.stem.conv.weight.requiresGrad);
    assert.equal(m.stem.bn.numBatchesTracked!.dtype, 'int64');
    assert.equal(m.stem.bn.runningMean!.dtype, 'float64');
    assert.equal(m.call(X().double()).dtype, 'float64');
  });

  test('to(dtype) keeps parameter identity (as PyTorch) so an optimizer built before still holds them', () => {
    const m = new Net();
    const w = m.stem.conv.weight;
    m.call(X()).sum().backward();
    m.to('float64');
    assert.equal(m.stem.conv.weight, w, 'same Parameter object');
    assert.equal(w.dtype, 'float64');
    assert.equal(w.grad?.dtype, 'float64', 'the gradient follows');
    assert.equal(m.call(X().double()).dtype, 'float64');
  });

  test('a model built inside tidy() survives it', () => {
    const m = tidy(() => new Net());
    assert.deepEqual(m.call(X()).shape, [2, 4]);
  });

  test('forward hooks see inputs and may replace outputs', () => {
    const m = new Net();
    const seen: number[][] = [];
    const remove = m.stem.registerForwardHook((_mod, _args, out) => {
      seen.push((out as Tensor).shape);
    });
    const pre = m.head.registerForwardPreHook((_mod, args) => [(args[0] as Tensor).mul(0)]);
    const y = m.call(X());
    assert.deepEqual(seen, [[2, 3, 2, 2]]);
    assert.deepEqual(y.shape, [2, 4]);
    remove();
    pre();
    m.call(X());
    assert.equal(seen.length, 1);
  });

  test('repr follows PyTorch', () => {
    const s = new nn.Sequential(
      new nn.Conv2d(3, 64, 7, { stride: 2, padding: 3, bias: false }),
      new nn.BatchNorm2d(64),
    );
    assert.equal(
      String(s),
      'Sequential(\n  (0): Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, 3), bias=False)\n' +
        '  (1): BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n)',
    );
  });
});

describe('containers', () => {
  test('Sequential runs children in order and indexes like a list', () => {
    const s = new nn.Sequential(new nn.Linear(3, 5), new nn.ReLU());
    s.append(new nn.Linear(5, 2));
    assert.equal(s.length, 3);
    assert.ok(s.at(-1) instanceof nn.Linear);
    assert.deepEqual(s.call(randn([4, 3])).shape, [4, 2]);
    assert.deepEqual(
      [...s].map((m) => m.constructor.name),
      ['Linear', 'ReLU', 'Linear'],
    );
  });

  test('ModuleList and ModuleDict name their children as PyTorch', () => {
    const l = new nn.ModuleList([new nn.Linear(2, 2), new nn.Linear(2, 2)]);
    assert.deepEqual([...l.stateDict().keys()], ['0.weight', '0.bias', '1.weight', '1.bias']);
    assert.throws(() => l.call(), { code: 'GRAFT_ARGS' });
    const d = new nn.ModuleDict({ q: new nn.Linear(2, 2, { bias: false }), k: new nn.Linear(2, 2, { bias: false }) });
    assert.deepEqual(d.keys(), ['q', 'k']);
    assert.deepEqual([...d.stateDict().keys()], ['q.weight', 'k.weight']);
    assert.ok(d.get('k') instanceof nn.Linear);
  });
});

test('deleteParameter / deleteBuffer drop the entry; registering again appends at the end (as del + setattr)', () => {
  const m = new nn.Linear(2, 2);
  m.registerBuffer('scale', ones([1]));
  const w = m.deleteParameter('weight');
  assert.ok(w instanceof nn.Parameter);
  assert.deepEqual([...m.stateDict().keys()], ['bias', 'scale']);
  m.registerParameter('weight', w!);
  assert.deepEqual([...m.stateDict().keys()], ['bias', 'weight', 'scale']);
  assert.ok(m.deleteBuffer('scale'));
  assert.deepEqual([...m.stateDict().keys()], ['bias', 'weight']);
  assert.equal(m.deleteParameter('nothing'), undefined);
});
