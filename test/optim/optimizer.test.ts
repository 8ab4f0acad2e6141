// The Optimizer base: param groups and their checks, zeroGrad, step, frozen parameters,
// state dict layout and round trip, lifetime across tidy().
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { Adam, AdamW, type Optimizer, RMSprop, SGD } from '../../src/optim/index.ts';
import { type Tensor, tensor, tidy } from '../../src/tensor/index.ts';
import { bits, caseNamed, compareParams, FX, makeGroups, makeOptimizer, makeParams, setGrads } from './_helpers.ts';

const w = (v: number[] = [1, 2, 3]): Tensor => tensor(v, { requiresGrad: true });

describe('param groups', () => {
  test('a parameter in two groups is an error naming both groups', () => {
    const [a, b, c] = [w(), w(), w()];
    assert.throws(
      () => new SGD([{ params: [a, b] }, { params: [c] }, { params: [b] }], { lr: 0.1 }),
      (e: Error) => e instanceof ArgumentError && /group 0 \(param 1\) and group 2 \(param 0\)/.test(e.message),
    );
  });

  test('group names appear in the error when groups have them', () => {
    const a = w();
    assert.throws(
      () =>
        new SGD(
          [
            { params: [a], name: 'backbone' },
            { params: [a], name: 'head' },
          ],
          { lr: 0.1 },
        ),
      /group 0 \('backbone'\) \(param 0\) and group 1 \('head'\) \(param 0\)/,
    );
  });

  test('two wrappers of the same tensor count as the same parameter', () => {
    const a = w();
    assert.throws(
      () => new SGD([{ params: [a] }, { params: [a.detach()] }], { lr: 0.1 }),
      /more than one parameter group/,
    );
  });

  test('equal values in different tensors are not duplicates', () => {
    assert.doesNotThrow(() => new SGD([{ params: [w()] }, { params: [w()] }], { lr: 0.1 }));
  });

  test('addParamGroup rejects a parameter already in the optimizer', () => {
    const a = w();
    const opt = new SGD([a], { lr: 0.1 });
    assert.throws(() => opt.addParamGroup({ params: [w(), a] }), /group 0 \(param 0\) and group 1 \(param 1\)/);
    assert.equal(opt.paramGroups.length, 1);
  });

  test('a parameter listed twice in one group is an error', () => {
    const a = w();
    assert.throws(() => new SGD([a, a], { lr: 0.1 }), /lists a parameter twice \(param 0 and param 1/);
  });

  test('params must be leaf floating-point tensors', () => {
    const a = w();
    assert.throws(() => new SGD([a.mul(2)], { lr: 0.1 }), /non-leaf/);
    assert.throws(() => new SGD([tensor([1, 2], { dtype: 'int64' })], { lr: 0.1 }), /int64: only floating-point/);
    assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
    assert.throws(() => new SGD(a as never, { lr: 0.1 }), /got one Tensor/);
    assert.throws(() => new SGD([{ params: [a] }, { params: [1 as never] }], { lr: 0.1 }), /only optimize Tensors/);
  });

  test('a missing required hyper-parameter is an error (SGD has no default lr)', () => {
    assert.throws(() => new SGD([w()]), /group 0 didn't specify a value of required optimization parameter lr/);
    assert.doesNotThrow(() => new SGD([{ params: [w()], lr: 0.1 }]));
  });

  test('groups take the defaults they do not override, in PyTorch key order', () => {
    const opt = new SGD([{ params: [w()] }, { params: [w()], lr: 0.05, weight_decay: 0 }], { lr: 0.1, momentum: 0.9 });
    const keys = ['lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize', 'foreach', 'differentiable'];
    assert.deepEqual(Object.keys(opt.stateDict().param_groups[0]!), [...keys, 'params']);
    // as PyTorch: a group's own keys first, then the defaults it did not give
    assert.deepEqual(Object.keys(opt.stateDict().param_groups[1]!), [
      'lr',
      'weight_decay',
      ...keys.filter((k) => k !== 'lr' && k !== 'weight_decay'),
      'params',
    ]);
    assert.equal(opt.paramGroups[1]!.momentum, 0.9);
    assert.equal(opt.paramGroups[1]!.lr, 0.05);
  });

  test('extra keys in a group (names, initial_lr) ride along into the state dict', () => {
    const opt = new Adam([{ params: [w()], name: 'head', initial_lr: 0.01 }]);
    const g = opt.stateDict().param_groups[0]!;
    assert.equal(g.name, 'head');
    assert.equal(g.initial_lr, 0.01);
  });

  test('hyper-parameter checks as PyTorch constructors make them', () => {
    assert.throws(() => new SGD([w()], { lr: -1 }), /'lr' must be a number >= 0, got -1/);
    assert.throws(
      () => new SGD([w()], { lr: 0.1, nesterov: true }),
      /Nesterov momentum requires a momentum and zero dampening/,
    );
    assert.throws(() => new SGD([w()], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true }), /Nesterov/);
    assert.throws(() => new Adam([w()], { betas: [0.9, 1] }), /'betas' must be two numbers in \[0, 1\)/);
    assert.throws(() => new Adam([w()], { eps: -1 }), /'eps'/);
    assert.throws(() => new RMSprop([w()], { alpha: -0.5 }), /'alpha' must be a number >= 0/);
    assert.throws(() => new AdamW([w()], { capturable: true as never }), /graft does not implement it/);
    assert.throws(() => new SGD([{ params: [w()], momentum: -1 }], { lr: 0.1 }), /SGD group 0: 'momentum'/);
    assert.throws(
      () => new SGD([w()], { lr: 0.1, weightDecay: 0.1 } as never),
      /unknown option 'weightDecay'.*did you mean 'weight_decay'/,
    );
  });
});

describe('zeroGrad', () => {
  test('drops gradients by default (set_to_none)', () => {
    const a = w();
    a.sum().backward();
    const opt = new SGD([a], { lr: 0.1 });
    opt.zeroGrad();
    assert.equal(a.grad, undefined);
  });

  test('setToNone: false zeroes them in place, batched and per tensor', () => {
    for (const foreach of [null, false]) {
      const a = w();
      const b = w([4, 5]);
      a.mul(3).sum().add(b.sum()).backward();
      const before = a.grad!;
      new SGD([a, b], { lr: 0.1, foreach }).zeroGrad({ setToNone: false });
      assert.deepEqual(a.grad!.toArray(), [0, 0, 0]);
      assert.deepEqual(b.grad!.toArray(), [0, 0]);
      assert.deepEqual(before.toArray(), [0, 0, 0], 'same gradient tensor');
    }
  });
});

describe('step', () => {
  test('the closure runs with gradients enabled and its loss is returned', () => {
    const a = w();
    const opt = new SGD([a], { lr: 0.5 });
    const loss = opt.step(() => {
      opt.zeroGrad();
      const l = a.pow(2).sum();
      l.backward();
      return l;
    });
    assert.equal(loss?.item(), 14);
    assert.deepEqual(a.toArray(), [0, 0, 0]);
    assert.equal(a.requiresGrad, true);
  });

  test('parameters frozen mid-training stay bit-identical: no weight decay, momentum drift or Adam moments', () => {
    for (const make of [
      (ps: Tensor[]) => new SGD(ps, { lr: 0.1, momentum: 0.9, weight_decay: 0.1 }),
      (ps: Tensor[]) => new Adam(ps, { lr: 0.1, weight_decay: 0.1 }),
      (ps: Tensor[]) => new AdamW(ps, { lr: 0.1 }),
      (ps: Tensor[]) => new RMSprop(ps, { lr: 0.1, momentum: 0.9, centered: true, weight_decay: 0.1 }),
    ]) {
      const [a, b] = [w(), w([0.5, -1])];
      const opt = make([a, b]);
      const run = () => {
        opt.zeroGrad();
        a.sum().add(b.pow(2).sum()).backward();
        opt.step();
      };
      run();
      run();
      a.requiresGrad = false;
      a.grad = undefined;
      const frozen = bits(a);
      const state = opt.state.get(a)!;
      const snapshot = Object.fromEntries(
        Object.entries(state).map(([k, v]) => [k, v && typeof v === 'object' ? bits(v as Tensor) : v]),
      );
      const bBefore = bits(b);
      for (let i = 0; i < 3; i++) {
        opt.zeroGrad();
        b.pow(2).sum().backward();
        opt.step();
      }
      assert.deepEqual(bits(a), frozen, `${opt.type}: frozen parameter moved`);
      const after = Object.fromEntries(
        Object.entries(state).map(([k, v]) => [k, v && typeof v === 'object' ? bits(v as Tensor) : v]),
      );
      assert.deepEqual(after, snapshot, `${opt.type}: frozen parameter's state moved`);
      assert.notDeepEqual(bits(b), bBefore, `${opt.type}: trainable parameter should move`);
    }
  });

  test('a group added later (unfreezing) is stepped with its own hyper-parameters', () => {
    const c = caseNamed('sgd_momentum');
    const ps = makeParams();
    const [g0, g1] = makeGroups(ps, c.group_overrides);
    const opt = new SGD([g0!], { lr: 0.1, momentum: 0.9 });
    opt.addParamGroup(g1!);
    for (let t = 0; t < FX.steps; t++) {
      setGrads(ps, t, false);
      opt.step();
      compareParams(ps, c.trajectory[t]!, `step ${t + 1}`);
    }
  });

  test('state tensors survive tidy() scopes around steps', () => {
    const c = caseNamed('rmsprop_all');
    const ps = makeParams();
    const opt = makeOptimizer(c.type, c.options, c.group_overrides, ps);
    for (let t = 0; t < FX.steps; t++)
      tidy(() => {
        setGrads(ps, t, false);
        opt.step();
      });
    for (const st of opt.state.values())
      for (const v of Object.values(st)) if (v && typeof v === 'object') assert.equal((v as Tensor).isDisposed, false);
    compareParams(ps, c.trajectory[FX.steps - 1]!, 'after tidy steps');
  });
});

describe('state dict', () => {
  const layouts: [string, Record<string, string>][] = [
    ['sgd_momentum', { momentum_buffer: 'float32[4,3]' }],
    ['sgd_plain', { momentum_buffer: 'null' }],
    [
      'adam_amsgrad',
      { step: 'float32[]', exp_avg: 'float32[4,3]', exp_avg_sq: 'float32[4,3]', max_exp_avg_sq: 'float32[4,3]' },
    ],
    ['adamw', { step: 'float32[]', exp_avg: 'float32[4,3]', exp_avg_sq: 'float32[4,3]' }],
    [
      'rmsprop_all',
      { step: 'number', square_avg: 'float32[4,3]', momentum_buffer: 'float32[4,3]', grad_avg: 'float32[4,3]' },
    ],
  ];
  for (const [name, layout] of layouts)
    test(`${name}: state keys and value types as torch.optim 1.13`, () => {
      const c = caseNamed(name);
      const ps = makeParams();
      const opt = makeOptimizer(c.type, c.options, c.group_overrides, ps);
      for (let t = 0; t < 4; t++) {
        setGrads(ps, t, false);
        opt.step();
      }
      const sd = opt.stateDict();
      assert.deepEqual([...sd.state.keys()], [0, 1, 2], 'the frozen parameter (index 3) has no state');
      const kind = (v: unknown): string =>
        v === null ? 'null' : typeof v === 'number' ? 'number' : `${(v as Tensor).dtype}[${(v as Tensor).shape}]`;
      assert.deepEqual(Object.fromEntries(Object.entries(sd.state.get(0)!).map(([k, v]) => [k, kind(v)])), layout);
      assert.deepEqual(
        sd.param_groups.map((g) => g.params),
        [
          [0, 1],
          [2, 3],
        ],
      );
      if (layout.step === 'float32[]')
        assert.equal((sd.state.get(1)!.step as Tensor).item(), 3, 'b1 had no grad at step 3');
    });

  for (const name of ['sgd_nesterov', 'adam_weight_decay', 'adamw_amsgrad', 'rmsprop_all'])
    test(`${name}: stateDict -> loadStateDict into a fresh optimizer continues identically`, () => {
      const c = caseNamed(name);
      const ps = makeParams();
      const opt = makeOptimizer(c.type, c.options, c.group_overrides, ps);
      for (let t = 0; t < 5; t++) {
        setGrads(ps, t, false);
        opt.step();
      }
      const sd = opt.stateDict();
      const snap = Object.fromEntries(Object.entries(ps).map(([n, p]) => [n, p.tolist() as number[]]));
      const ps2 = makeParams(snap);
      const opt2: Optimizer = makeOptimizer(c.type, { ...c.options, lr: 7 }, [{}, {}], ps2);
      opt2.loadStateDict(sd);
      assert.deepEqual(opt2.stateDict().param_groups, sd.param_groups);
      for (let t = 5; t < FX.steps; t++) {
        setGrads(ps, t, false);
        setGrads(ps2, t, false);
        opt.step();
        opt2.step();
        for (const n of FX.order) assert.deepEqual(bits(ps2[n]!), bits(ps[n]!), `${n} at step ${t + 1}`);
      }
    });

  test('loading copies the state: the source tensors are not aliased', () => {
    const a = w();
    const opt = new SGD([a], { lr: 0.1, momentum: 0.9 });
    const buf = tensor([1, 1, 1]);
    opt.loadStateDict({ state: new Map([[0, { momentum_buffer: buf }]]), param_groups: opt.stateDict().param_groups });
    buf.fill_(5);
    assert.deepEqual((opt.state.get(a)!.momentum_buffer as Tensor).toArray(), [1, 1, 1]);
  });

  test("loading casts state tensors to the parameter's dtype, except step", () => {
    const a = w();
    const opt = new Adam([a]);
    const sd = {
      state: {
        '0': {
          step: tensor(2, { dtype: 'float64' }),
          exp_avg: tensor([1, 2, 3], { dtype: 'float64' }),
          exp_avg_sq: tensor([1, 1, 1], { dtype: 'float64' }),
        },
      },
      param_groups: opt.stateDict().param_groups,
    };
    opt.loadStateDict(sd);
    const st = opt.state.get(a)!;
    assert.equal((st.exp_avg as Tensor).dtype, 'float32');
    assert.equal((st.exp_avg_sq as Tensor).dtype, 'float32');
    assert.equal((st.step as Tensor).dtype, 'float64');
  });

  test('an older Adam checkpoint with a numeric step gets a 0-dim float32 step tensor, as PyTorch does', () => {
    const a = w();
    const opt = new Adam([a]);
    opt.loadStateDict({
      state: { '0': { step: 4, exp_avg: tensor([0, 0, 0]), exp_avg_sq: tensor([0, 0, 0]) } },
      param_groups: opt.stateDict().param_groups,
    });
    const step = opt.state.get(a)!.step as Tensor;
    assert.equal(step.dtype, 'float32');
    assert.deepEqual(step.shape, []);
    assert.equal(step.item(), 4);
  });

  test('mismatched groups are errors with the counts', () => {
    const opt = new SGD([{ params: [w(), w()] }, { params: [w()] }], { lr: 0.1 });
    const sd = opt.stateDict();
    assert.throws(
      () => opt.loadStateDict({ ...sd, param_groups: sd.param_groups.slice(0, 1) }),
      /1 parameter groups, the optimizer 2/,
    );
    const bad = structuredClone(sd.param_groups);
    bad[1]!.params = [2, 3];
    assert.throws(
      () => opt.loadStateDict({ ...sd, param_groups: bad }),
      /group 1 has 2 parameters, the optimizer's has 1/,
    );
    assert.throws(
      () => opt.loadStateDict({ state: { '9': { momentum_buffer: null } }, param_groups: sd.param_groups }),
      /state for index 9/,
    );
  });

  test('toString lists every group like PyTorch repr', () => {
    const s = String(new SGD([{ params: [w()] }, { params: [w()], lr: 0.5 }], { lr: 0.1 }));
    assert.match(s, /^SGD \(\nParameter Group 0\n {4}dampening: 0\n/);
    assert.match(s, /Parameter Group 1\n(.*\n)* {4}lr: 0.5/);
  });

  test('dispose frees the state tensors', () => {
    const a = w();
    const opt = new Adam([a]);
    a.sum().backward();
    opt.step();
    const st = opt.state.get(a)!;
    opt.dispose();
    assert.equal((st.exp_avg as Tensor).isDisposed, true);
    assert.equal(opt.state.size, 0);
  });
});
