// Exact resume with the loop's own callbacks: mixed precision with a GradScaler (its scale and
// growth tracker go through the checkpoint) and gradient accumulation, stopped mid-epoch.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { StepRecord } from '../../src/report/index.ts';
import { type Callback, type FitOptions, fit, readCheckpoint, type Trainer } from '../../src/train/index.ts';
import { readJsonl, rmDir, setup, stepLosses, tmpDir, weights } from './_helpers.ts';

async function run(out: string, extra: Partial<FitOptions> = {}) {
  const s = setup(5);
  // one batch's logits overflow once scaled: that step is skipped and the scale backs off
  let huge = false;
  const flag: Callback = {
    beforeBatch: (t) => {
      huge = t.epoch === 0 && t.batchIndex === 2;
    },
  };
  const r = await fit({
    ...s,
    epochs: 3,
    outDir: out,
    logEvery: 1,
    seed: 5,
    progress: false,
    export: false,
    accumulate: 2,
    amp: { dtype: 'bfloat16', scaler: { initScale: 2 ** 20, growthInterval: 2 } },
    forward: (m, x) => {
      const o = m.call(x as never);
      return huge ? o.mul(1e36) : o;
    },
    ...extra,
    callbacks: [flag, ...(extra.callbacks ?? [])],
  });
  const recs = readJsonl(join(out, 'metrics.jsonl'));
  const scales = recs.filter((x): x is StepRecord => x.type === 'step').map((x) => x.scale);
  return { r, w: weights(s.model), losses: stepLosses(recs), scales };
}

test('AMP + GradScaler + accumulation: a mid-epoch resume gives the same losses, scales and weights', async () => {
  const a = tmpDir();
  const b = tmpDir();
  try {
    const ref = await run(a);
    assert.equal(ref.r.steps, 9, '6 batches, accumulate 2: 3 steps an epoch');
    assert.ok(new Set(ref.scales).size > 2, `the scale moved: ${ref.scales}`);
    const stop: Callback = {
      afterBatch: (t: Trainer) => {
        if (t.stepped && t.step === 5) t.requestStop('test stop');
      },
    };
    const first = await run(b, { callbacks: [stop] });
    assert.equal(first.r.stopReason, 'test stop');
    const ck = readCheckpoint(join(b, 'checkpoints', 'last.pth')).tree;
    assert.equal(ck.step, 5);
    assert.equal(ck.batch, 4);
    assert.equal(ck.scaler.scale, ref.scales[4], "the checkpoint holds the scaler's state at that step");
    const resumed = await run(b, { resume: true });
    assert.deepEqual(resumed.losses, ref.losses);
    assert.deepEqual(resumed.scales, ref.scales);
    assert.deepEqual(resumed.w, ref.w);
  } finally {
    rmDir(a);
    rmDir(b);
  }
});
