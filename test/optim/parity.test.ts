// Optimizer trajectories against real PyTorch 1.13 (scripts/fixtures/optim_fixtures.py):
// every optimizer and option, two param groups with different lrs, a frozen parameter and a
// parameter without gradient at one step; batched (_foreach_) and per-tensor paths.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  bits,
  compareParams,
  compareStateDict,
  decodeStateDict,
  FX,
  makeOptimizer,
  makeParams,
  setGrads,
} from './_helpers.ts';

const worst = new Map<string, number>();
const note = (type: string, e: number): void => {
  worst.set(type, Math.max(worst.get(type) ?? 0, e));
};

after(() => {
  const summary = [...worst].map(([t, e]) => `${t} ${e.toExponential(2)}`).join(', ');
  console.log(`# max relative error vs PyTorch ${FX.torch_version}: ${summary}`);
});

describe('optimizer trajectories equal PyTorch', () => {
  for (const c of FX.cases) {
    for (const foreach of [null, false]) {
      const label = `${c.name}${foreach === false ? ' (per-tensor)' : ''}`;
      test(label, () => {
        const ps = makeParams();
        const frozenBits = bits(ps[FX.frozen]!);
        const opt = makeOptimizer(
          c.type,
          { ...c.options, ...(foreach === false ? { foreach } : {}) },
          c.group_overrides,
          ps,
        );
        for (let t = 0; t < FX.steps; t++) {
          setGrads(ps, t, c.loss);
          opt.step();
          note(c.type, compareParams(ps, c.trajectory[t]!, `${label} step ${t + 1}`));
        }
        assert.deepEqual(bits(ps[FX.frozen]!), frozenBits, 'frozen parameter changed');
        assert.equal(ps[FX.frozen]!.grad, undefined);
        if (foreach === null) note(c.type, compareStateDict(opt.stateDict(), c.state_dict, label));
      });
    }
  }
});

describe('loading PyTorch state dicts', () => {
  for (const c of FX.cases) {
    test(`${c.name}: PyTorch's state after step 5 continues identically`, () => {
      const ps = makeParams(c.trajectory[4]);
      const opt = makeOptimizer(c.type, { ...c.options, lr: 123 }, c.group_overrides, ps);
      opt.loadStateDict(decodeStateDict(c.state_dict_mid));
      assert.equal(opt.paramGroups[0]!.lr, c.options.lr, 'hyper-parameters come from the state dict');
      for (let t = 5; t < FX.steps; t++) {
        setGrads(ps, t, c.loss);
        opt.step();
        note(c.type, compareParams(ps, c.trajectory[t]!, `${c.name} resumed step ${t + 1}`));
      }
      compareStateDict(opt.stateDict(), c.state_dict, `${c.name} resumed`);
    });
  }
});

test('seed 003: Adam for 5 steps, then a fresh SGD with momentum over the same parameters', () => {
  const sw = FX.switch;
  const ps = makeParams();
  let t = 0;
  sw.phases.forEach((phase, k) => {
    const opt = makeOptimizer(phase.type, phase.options, phase.group_overrides, ps);
    for (let s = 0; s < phase.steps; s++, t++) {
      setGrads(ps, t, false);
      opt.step();
      note('switch', compareParams(ps, sw.trajectory[t]!, `switch step ${t + 1}`));
    }
    compareStateDict(opt.stateDict(), sw.state_dicts[k]!, `switch phase ${k}`);
    opt.dispose();
  });
});

test('the fixture records that PyTorch itself agrees between its single-tensor and foreach paths', () => {
  for (const c of FX.cases) assert.equal(c.foreach_max_abs_diff, 0, c.name);
});
