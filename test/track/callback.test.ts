// TrackingCallback from the API with a Logger of one's own: what it is called with and when
// (hyper-parameters first, scalars every logEvery steps and per epoch, histograms of what trains
// at the requested steps, Adam's beta1 as momentum, close with the run's status), and
// TensorBoardLogger + fit() without a recipe.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Adam } from '../../src/optim/index.ts';
import {
  type HparamValue,
  type Logger,
  type SessionStatus,
  TensorBoardLogger,
  TrackingCallback,
} from '../../src/track/index.ts';
import { fit } from '../../src/train/index.ts';
import { readJsonl, rmDir, setup, tmpDir } from '../train/_helpers.ts';
import { eventFiles, readEvents, scalarsOf } from './_reader.ts';

class Recorder implements Logger {
  calls: string[] = [];
  scalars: [number, Record<string, number>][] = [];
  histos: [number, string, number][] = [];
  logScalars(step: number, s: Record<string, number>): void {
    this.calls.push('scalars');
    this.scalars.push([step, s]);
  }
  logHistogram(step: number, tag: string, values: ArrayLike<number>): void {
    this.histos.push([step, tag, values.length]);
  }
  logHparams(h: Record<string, HparamValue>): void {
    this.calls.push(`hparams ${JSON.stringify(h)}`);
  }
  flush(): void {
    this.calls.push('flush');
  }
  close(status?: SessionStatus): void {
    this.calls.push(`close ${status}`);
  }
}

test('a Logger of your own gets the hparams, the scalars, histograms of what trains, and the status', async () => {
  const s = setup(1, { n: 48, batchSize: 16 }); // 3 steps per epoch
  const [first] = s.model.parameters();
  first!.requiresGrad = false; // a frozen parameter: no histograms
  const optimizer = new Adam(
    s.model.parameters().filter((p) => p.requiresGrad),
    { lr: 0.01, betas: [0.8, 0.999] },
  );
  const rec = new Recorder();
  const cb = new TrackingCallback({
    loggers: [rec],
    logEvery: 2,
    histograms: { every: 4, weights: true, grads: true },
    hparams: { lr: 0.01, name: 'mlp', frozen: true },
  });
  await fit({ ...s, optimizer, epochs: 2, callbacks: [cb], progress: false, report: false });
  assert.equal(rec.calls[0], 'hparams {"lr":0.01,"name":"mlp","frozen":true}');
  assert.equal(rec.calls.at(-1), 'close success');
  // step logs at steps 2, 4, 6; epoch logs at steps 3 and 6 (flushed)
  assert.deepEqual(
    rec.scalars.map(([step, v]) => `${step}:${'epoch' in v ? 'epoch' : 'steps'}`),
    ['2:steps', '3:epoch', '4:steps', '6:steps', '6:epoch'],
  );
  const steps = rec.scalars[0]![1];
  assert.equal(steps['lr/group0'], 0.01);
  assert.equal(steps['momentum/group0'], 0.8, "Adam's beta1");
  assert.ok(Number.isFinite(steps['train/loss_step']));
  const epoch = rec.scalars[1]![1];
  assert.deepEqual(Object.keys(epoch).sort(), [
    'epoch',
    'eval/accuracy',
    'eval/loss',
    'eval/macroF1',
    'eval/top5',
    'train/accuracy',
    'train/loss',
    'train/macroF1',
    'train/top5',
  ]);
  // histograms at step 4 of the three trainable parameters (the first Linear's bias, the second's weight and bias)
  const names = [...s.model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
  assert.equal(names.length, 3);
  assert.deepEqual(
    rec.histos.map(([step, tag]) => `${step}:${tag}`).sort(),
    names.flatMap((n) => [`4:grads/${n}`, `4:weights/${n}`]).sort(),
  );
  assert.equal(rec.calls.filter((c) => c === 'flush').length, 2, 'a flush after each epoch');
});

test('a failing run closes its loggers with failure', async () => {
  const s = setup(2, { n: 32, batchSize: 16 });
  const rec = new Recorder();
  const boom = { afterEpoch: () => Promise.reject(new Error('boom')) };
  await assert.rejects(
    fit({
      ...s,
      epochs: 2,
      callbacks: [new TrackingCallback({ loggers: [rec] }), boom],
      progress: false,
      report: false,
    }),
    /boom/,
  );
  assert.equal(rec.calls.at(-1), 'close failure');
});

test('TensorBoardLogger with fit(): the scalars of metrics.jsonl, no recipe needed', async () => {
  const dir = tmpDir('graft-track-fit-');
  try {
    const s = setup(3, { n: 64, batchSize: 16 });
    const tb = new TensorBoardLogger({ dir: join(dir, 'run') });
    await fit({
      ...s,
      epochs: 2,
      outDir: join(dir, 'run'),
      logEvery: 1,
      callbacks: [new TrackingCallback({ loggers: [tb], logEvery: 1 })],
      progress: false,
      report: false,
      export: false,
    });
    const got = scalarsOf(eventFiles(join(dir, 'run')).flatMap(readEvents));
    const steps = readJsonl(join(dir, 'run', 'metrics.jsonl')).filter((r) => r.type === 'step');
    assert.equal(steps.length, 8);
    assert.deepEqual(
      got.get('train/loss_step'),
      steps.map((r) => [r.step, Math.fround((r as { loss: number }).loss)]),
    );
    assert.deepEqual(
      got.get('momentum/group0'),
      steps.map((r) => [r.step, Math.fround(0.9)]),
    );
  } finally {
    rmDir(dir);
  }
});
