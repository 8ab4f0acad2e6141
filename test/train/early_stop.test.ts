// Early stopping: patience, min_delta and mode, on a metric the test dictates epoch by epoch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EarlyStopping, type Trainer } from '../../src/train/index.ts';

/** Feeds values to the callback as if epochs ended with them; returns the epoch it stopped after. */
function feed(cb: EarlyStopping, values: number[], metric = 'eval.loss'): number | undefined {
  let stopped: number | undefined;
  values.forEach((v, epoch) => {
    if (stopped !== undefined) return;
    const t = {
      epoch,
      metrics: { [metric]: v },
      requestStop: () => {
        stopped = epoch;
      },
    } as unknown as Trainer;
    cb.afterEpoch(t);
  });
  return stopped;
}

test('stops after `patience` epochs without improvement (min mode for losses)', () => {
  assert.equal(feed(new EarlyStopping({ patience: 2 }), [1, 0.9, 0.95, 0.91, 0.5]), 3);
  assert.equal(feed(new EarlyStopping({ patience: 2 }), [1, 0.9, 0.95, 0.8, 0.85, 0.7]), undefined);
});

test('min_delta: smaller changes do not count as improvements', () => {
  assert.equal(feed(new EarlyStopping({ patience: 2, minDelta: 0.1 }), [1, 0.95, 0.92, 0.5]), 2);
  assert.equal(feed(new EarlyStopping({ patience: 2, minDelta: 0.01 }), [1, 0.95, 0.92, 0.5]), undefined);
});

test('max mode for accuracies (inferred from the name, or given)', () => {
  assert.equal(feed(new EarlyStopping({ monitor: 'eval.accuracy', patience: 1 }), [0.5, 0.6, 0.6], 'eval.accuracy'), 2);
  assert.equal(feed(new EarlyStopping({ monitor: 'eval.loss', mode: 'max', patience: 1 }), [1, 2, 3, 2.5]), 3);
});

test('its state goes into checkpoints and comes back', () => {
  const a = new EarlyStopping({ patience: 3 });
  feed(a, [1, 1.1, 1.2]);
  const b = new EarlyStopping({ patience: 3 });
  b.loadStateDict(a.stateDict());
  assert.equal(b.wait, 2);
  assert.equal(b.best, 1);
  assert.throws(() => feed(new EarlyStopping({ monitor: 'eval.f2' }), [1]), /watches 'eval.f2'/);
});

test('in a run: stops early, says why, and the last checkpoint is the stopping epoch', async () => {
  const { fit, readCheckpoint } = await import('../../src/train/index.ts');
  const { setup, tmpDir, rmDir, readJsonl } = await import('./_helpers.ts');
  const { join } = await import('node:path');
  const out = tmpDir();
  try {
    // the eval loss falls while it learns: in 'max' mode that is never an improvement
    const r = await fit({
      ...setup(1),
      epochs: 10,
      outDir: out,
      progress: false,
      earlyStopping: { monitor: 'eval.loss', mode: 'max', patience: 1 },
    });
    assert.ok(r.epochsRun < 10, `ran ${r.epochsRun} epochs`);
    assert.match(r.stopReason!, /^early stopping: eval\.loss did not improve/);
    assert.equal(readCheckpoint(join(out, 'checkpoints', 'last.pth')).tree.epoch, r.epochsRun);
    const end = readJsonl(join(out, 'metrics.jsonl')).at(-1)!;
    assert.ok(end.type === 'run' && end.event === 'stopped');
  } finally {
    rmDir(out);
  }
});
