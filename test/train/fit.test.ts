// A run end to end: the run folder holds metrics.jsonl, checkpoints, report.html, the exported
// model; seeded runs repeat bit for bit; memory stays flat; progress writes bars or plain lines.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { liveTensors, manualSeed, randint, randn } from '../../src/tensor/index.ts';
import { type Callback, fit, loadModel, Progress, readCheckpoint, Trainer, tensorData } from '../../src/train/index.ts';
import { epochRecords, readJsonl, rmDir, setup, stepLosses, tmpDir, weights } from './_helpers.ts';

const quiet = { progress: false as const };

test('fit writes metrics.jsonl, checkpoints, report.html, model.safetensors and config.json', async () => {
  const out = tmpDir();
  try {
    const s = setup(1);
    const r = await fit({
      ...s,
      ...quiet,
      epochs: 3,
      outDir: out,
      logEvery: 2,
      seed: 1,
      classNames: ['a', 'b', 'c', 'd'],
    });
    for (const f of [
      'metrics.jsonl',
      'report.html',
      'model.safetensors',
      'config.json',
      'checkpoints/last.pth',
      'checkpoints/best.pth',
    ])
      assert.ok(existsSync(join(out, f)), `${f} exists`);
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    const epochs = epochRecords(recs);
    assert.equal(epochs.length, 3);
    assert.equal(recs.filter((x) => x.type === 'step').length, 9, '6 steps per epoch, one record per 2');
    for (const e of epochs) {
      assert.ok(e.eval && typeof e.eval.accuracy === 'number' && typeof e.eval.macroF1 === 'number');
      assert.equal(e.eval.perClassAccuracy?.length, 4);
      assert.deepEqual(e.lr, [0.1]);
    }
    assert.ok(epochs[2]!.train.loss < epochs[0]!.train.loss, 'it learns');
    assert.equal(recs[0]!.type, 'run');
    const end = recs.at(-1)!;
    assert.ok(end.type === 'run' && end.event === 'end');
    assert.equal(r.epochsRun, 3);
    assert.equal(r.steps, 18);
    const ck = readCheckpoint(join(out, 'checkpoints/last.pth')).tree;
    assert.equal(ck.epoch, 3);
    assert.equal(ck.batch, 0);
    assert.equal(ck.step, 18);
    assert.deepEqual(ck.rng, { seed: 1, epoch: 3, batch: 0 });
    assert.deepEqual(Object.keys(ck.optimizer).sort(), ['param_groups', 'state']);
    const best = readCheckpoint(join(out, 'checkpoints/best.pth')).tree;
    assert.equal(best.epoch, r.best!.epoch + 1);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.format, 'graft-model');
    assert.deepEqual(cfg.classNames, ['a', 'b', 'c', 'd']);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok(html.includes('<svg'), 'charts in the report');
  } finally {
    rmDir(out);
  }
});

test('a registry model is exported with its architecture and rebuilt by loadModel', async () => {
  const out = tmpDir();
  try {
    manualSeed(3);
    const model = models.create('cifar_net', { numClasses: 3 });
    const x = randn([12, 3, 32, 32]);
    const y = randint(0, 3, [12]);
    const optimizer = new SGD(model.parameters(), { lr: 0.01 });
    await fit({
      model,
      optimizer,
      train: tensorData(x, y, { batchSize: 6 }),
      ...quiet,
      epochs: 1,
      outDir: out,
      classNames: ['x', 'y', 'z'],
    });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.architecture, 'cifar_net');
    assert.deepEqual(cfg.modelOptions, { numClasses: 3 });
    assert.deepEqual(cfg.preprocessing, { inputSize: [3, 32, 32], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    const { model: back, config } = loadModel(out);
    assert.equal(config.numClasses, 3);
    assert.equal(back.training, false);
    const a = model
      .eval()
      .call(x.narrow(0, 0, 2))
      .toArray();
    const b = back.call(x.narrow(0, 0, 2)).toArray();
    assert.deepEqual(a, b);
  } finally {
    rmDir(out);
  }
});

test('seeded runs on the CPU are deterministic: same losses, same weights', async () => {
  const run = async () => {
    const s = setup(5);
    const losses: number[] = [];
    const cb: Callback = { afterBatch: (t) => void losses.push(t.lossValue) };
    await new Trainer({ ...s, seed: 5, callbacks: [cb] }).fit(2);
    return { losses, w: weights(s.model) };
  };
  const a = await run();
  const b = await run();
  assert.equal(a.losses.length, 12);
  assert.deepEqual(a.losses, b.losses);
  assert.deepEqual(a.w, b.w);
});

test('training keeps the number of live tensors flat from epoch to epoch', async () => {
  const s = setup(2);
  const live: number[] = [];
  const cb: Callback = { afterEpoch: () => void live.push(liveTensors()) };
  await new Trainer({ ...s, callbacks: [cb] }).fit(4);
  assert.equal(live[3], live[1], `live tensors per epoch: ${live}`);
});

test('progress: plain lines without a TTY, a redrawn bar with one', async () => {
  const plain: string[] = [];
  const s = setup(1);
  await new Trainer({
    ...s,
    callbacks: [new Progress({ stream: { write: (x: string) => plain.push(x), isTTY: false }, every: 3 })],
  }).fit(1);
  const text = plain.join('');
  assert.ok(!text.includes('\r'), 'no carriage returns in plain mode');
  assert.match(text, /epoch 1\/1 3\/6 step 3 loss \d\.\d{4} [\d.]+ img\/s ETA \d\d:\d\d\n/);
  assert.match(text, /epoch 1\/1 train loss [\d.]+ acc [\d.]+% \| eval loss [\d.]+ acc [\d.]+% top-5 100\.0% macro-F1/);
  const tty: string[] = [];
  const s2 = setup(1);
  await new Trainer({
    ...s2,
    callbacks: [
      new Progress({ stream: { write: (x: string) => tty.push(x), isTTY: true, columns: 120 }, intervalMs: 0 }),
    ],
  }).fit(1);
  const bar = tty.find((x) => x.includes('['))!;
  assert.ok(bar.startsWith('\r\x1b[K'), 'redrawn in place');
  assert.match(bar, /epoch 1\/1 \[#+\.*\] \d\/6 step \d loss/);
  assert.match(bar, /img\/s ETA \d\d:\d\d/);
});

test('bf16 autocast on the CPU trains and logs finite losses', async () => {
  const s = setup(4);
  const losses: number[] = [];
  await new Trainer({ ...s, amp: 'bf16', callbacks: [{ afterBatch: (t) => void losses.push(t.lossValue) }] }).fit(1);
  assert.equal(losses.length, 6);
  assert.ok(losses.every(Number.isFinite));
  assert.throws(() => new Trainer({ ...setup(4), amp: 'fp16' }), /fp16 mixed precision needs CUDA/);
});

test('metrics.jsonl step records carry every group lr and names, the phase and the throughput', async () => {
  const out = tmpDir();
  try {
    const s = setup(1);
    const [w0, b0, w1, b1] = s.model.parameters();
    const optimizer = new SGD(
      [
        { params: [w0!, b0!], lr: 0.01, name: 'body' },
        { params: [w1!, b1!], lr: 0.1, name: 'head' },
      ],
      { lr: 0.1 },
    );
    await fit({ ...s, optimizer, ...quiet, epochs: 1, outDir: out, logEvery: 1, export: false, checkpoint: false });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    const step = recs.find((x) => x.type === 'step')!;
    assert.ok(step.type === 'step');
    assert.deepEqual(step.lr, [0.01, 0.1]);
    assert.deepEqual(step.groups, ['body', 'head']);
    assert.ok(step.throughput! > 0);
    assert.equal(stepLosses(recs).length, 6);
    assert.ok(!existsSync(join(out, 'model.safetensors')));
  } finally {
    rmDir(out);
  }
});

test('parameters survive garbage collection during a run (GC between every batch)', async () => {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const s = setup(6);
  // finalizers run on a later turn of the event loop: give them one after every collection
  const collect = async () => {
    gc();
    await new Promise((r) => setTimeout(r, 1));
  };
  const t = new Trainer({ ...s, callbacks: [{ afterBatch: collect }] });
  await t.fit(2);
  assert.equal(t.step, 12);
  assert.ok(s.model.parameters().every((p) => !p.isDisposed));
});
