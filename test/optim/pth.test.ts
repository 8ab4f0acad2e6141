// Real torch.save(optimizer.state_dict()) files, read with src/io's readPth, load into graft's
// optimizers with PyTorch's layout and continue exactly as the JSON copy of the same state.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readPth } from '../../src/io/index.ts';
import type { OptimizerStateDictInput } from '../../src/optim/index.ts';
import {
  bits,
  caseNamed,
  compareStateDict,
  decodeStateDict,
  FIXTURE_DIR,
  FX,
  makeOptimizer,
  makeParams,
  setGrads,
} from './_helpers.ts';

for (const [file, name] of Object.entries(FX.pth_cases)) {
  test(`${file}: PyTorch's saved ${name} state loads with the same layout and continues identically`, () => {
    const c = caseNamed(name);
    const last = c.trajectory[FX.steps - 1]!;
    const fromPth = makeParams(last);
    const fromJson = makeParams(last);
    const a = makeOptimizer(c.type, c.options, c.group_overrides, fromPth);
    const b = makeOptimizer(c.type, c.options, c.group_overrides, fromJson);
    a.loadStateDict(readPth(join(FIXTURE_DIR, file)) as OptimizerStateDictInput);
    b.loadStateDict(decodeStateDict(c.state_dict));
    compareStateDict(a.stateDict(), c.state_dict, file);
    for (let t = 0; t < 3; t++) {
      setGrads(fromPth, t, c.loss);
      setGrads(fromJson, t, c.loss);
      a.step();
      b.step();
      for (const n of FX.order)
        assert.deepEqual(bits(fromPth[n]!), bits(fromJson[n]!), `${n} after ${t + 1} more steps`);
    }
  });
}
