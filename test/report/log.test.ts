// metrics.jsonl and the progress lines from real runs: every optimizer step's learning rate, the
// epoch's own rate in the epoch line (also after a mid-epoch resume), skipped samples, the
// confusion counts, a full disk, and a report rendered at the end (not after every epoch).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { GraftError } from '../../src/errors.ts';
import { PhaseRunner } from '../../src/finetune/index.ts';
import { loadCheckpoint } from '../../src/io/index.ts';
import { Linear } from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { type EpochRecord, type LrChange, lrPoints, phaseBoundaries } from '../../src/report/index.ts';
import { OneCycleLR, StepLR } from '../../src/schedule/index.ts';
import {
  type BatchSource,
  type Callback,
  fit,
  MetricsLogger,
  ReportCallback,
  readCheckpoint,
  type Trainer,
} from '../../src/train/index.ts';
import { epochRecords, mlp, readJsonl, rmDir, setup, tmpDir } from '../train/_helpers.ts';

const quiet = { progress: false, checkpoint: false, export: false, report: false } as const;

/** The rate of every step from an epoch record's change list. */
function expand(changes: LrChange[], endStep: number): number[][] {
  const out: number[][] = [];
  changes.forEach((c, i) => {
    const to = changes[i + 1]?.step ?? endStep;
    for (let s = c.step; s < to; s++) out.push(c.lr);
  });
  return out;
}

/** OneCycleLR's rate before each of `n` steps, from a scheduler of its own. */
function oneCycleRates(n: number): number[] {
  const opt = new SGD([new Linear(1, 1).weight], { lr: 0.1, momentum: 0.9 });
  const s = new OneCycleLR(opt, { max_lr: 0.5, total_steps: n });
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    out.push(opt.paramGroups[0]!.lr);
    opt.step();
    s.step();
  }
  return out;
}

test('epoch records hold the rate of every optimizer step (a per-step one-cycle schedule)', async () => {
  const out = tmpDir();
  try {
    const s = setup(1); // 96 items / 16: 6 steps per epoch
    const scheduler = new OneCycleLR(s.optimizer, { max_lr: 0.5, total_steps: 12 });
    await fit({ ...s, ...quiet, scheduler, schedulerInterval: 'step', epochs: 2, outDir: out, logEvery: 4 });
    const epochs = epochRecords(readJsonl(join(out, 'metrics.jsonl')));
    const seen = epochs.flatMap((e, i) => expand(e.lrSteps!, e.step).map((lr) => [i, lr[0]!] as const));
    assert.deepEqual(
      seen.map(([, v]) => v),
      oneCycleRates(12),
    );
    assert.deepEqual(
      seen.map(([i]) => i),
      [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
    );
    // `lr` is the epoch's first step's rate
    assert.deepEqual(
      epochs.map((e) => e.lr[0]),
      [oneCycleRates(12)[0], oneCycleRates(12)[6]],
    );
    // the confusion counts of the validation split (40 items, 4 classes)
    const conf = epochs[1]!.eval!.confusion!;
    assert.equal(conf.length, 4);
    assert.equal(
      conf.flat().reduce((a, b) => a + b, 0),
      40,
    );
  } finally {
    rmDir(out);
  }
});

test("the epoch line prints that epoch's learning rate, not the next one's", async () => {
  const lines: string[] = [];
  const s = setup(2);
  const scheduler = new StepLR(s.optimizer, { step_size: 1, gamma: 0.1 });
  await fit({
    ...s,
    ...quiet,
    scheduler,
    epochs: 2,
    progress: { stream: { write: (x: string) => lines.push(x), isTTY: false }, every: 1000 },
  });
  const ends = lines.filter((l) => l.includes('train loss'));
  assert.equal(ends.length, 2);
  assert.match(ends[0]!, /\| lr 1\.00e-1 \|/);
  assert.match(ends[1]!, /\| lr 1\.00e-2 \|/);
});

/** A callback that asks the run to stop after `step` optimizer steps. */
const stopAt = (step: number): Callback => ({
  order: 90,
  afterBatch(t: Trainer) {
    if (t.step === step) t.requestStop('test stop');
  },
});

test('after a mid-epoch resume the epoch records carry the same rates as an uninterrupted run', async () => {
  const full = tmpDir();
  const cut = tmpDir();
  const build = () => {
    const s = setup(3);
    return { ...s, scheduler: new OneCycleLR(s.optimizer, { max_lr: 0.5, total_steps: 12 }) };
  };
  const o = { progress: false, export: false, report: false, schedulerInterval: 'step', epochs: 2 } as const;
  try {
    await fit({ ...build(), ...o, outDir: full });
    await fit({ ...build(), ...o, outDir: cut, callbacks: [stopAt(3)] });
    assert.equal(epochRecords(readJsonl(join(cut, 'metrics.jsonl'))).length, 0, 'stopped inside epoch 1');
    await fit({ ...build(), ...o, outDir: cut, resume: true });
    const pick = (e: EpochRecord) => ({ epoch: e.epoch, step: e.step, lr: e.lr, lrSteps: e.lrSteps });
    assert.deepEqual(
      epochRecords(readJsonl(join(cut, 'metrics.jsonl'))).map(pick),
      epochRecords(readJsonl(join(full, 'metrics.jsonl'))).map(pick),
    );
  } finally {
    rmDir(full);
    rmDir(cut);
  }
});

/** A source that reports `perEpoch` samples skipped at the start of every epoch, like a DataLoader with onBadSample: 'skip'. */
function skipping(src: BatchSource, perEpoch: number): BatchSource {
  let skipped = 0;
  return {
    get length() {
      return src.length;
    },
    get skipped() {
      return skipped;
    },
    async *batches(epoch: number, start: number) {
      skipped += perEpoch;
      yield* src.batches(epoch, start);
    },
  };
}

test('samples skipped by onBadSample are in the progress lines and the epoch records', async () => {
  const out = tmpDir();
  const lines: string[] = [];
  try {
    const s = setup(4);
    await fit({
      ...s,
      ...quiet,
      train: skipping(s.train, 2),
      valid: skipping(s.valid, 1),
      epochs: 2,
      outDir: out,
      progress: { stream: { write: (x: string) => lines.push(x), isTTY: false }, every: 3 },
    });
    const epochs = epochRecords(readJsonl(join(out, 'metrics.jsonl')));
    assert.deepEqual(
      epochs.map((e) => [e.skipped, e.evalSkipped]),
      [
        [2, 1],
        [2, 1],
      ],
    );
    assert.ok(
      lines.some((l) => /step \d+ .* skipped 2\n$/.test(l)),
      lines.join(''),
    );
    assert.equal(lines.filter((l) => l.includes('train loss') && l.includes('| skipped 2 bad samples')).length, 2);
  } finally {
    rmDir(out);
  }
});

test('a full disk while writing metrics.jsonl stops the run with a coded error; checkpoints stay whole', async (t) => {
  if (process.platform !== 'linux' || !existsSync('/dev/full')) return t.skip('needs /dev/full (Linux)');
  const out = tmpDir();
  try {
    const metrics = join(out, 'metrics.jsonl');
    // after the first epoch (and its checkpoint), every write to metrics.jsonl meets a full disk
    const fillDisk: Callback = {
      order: 200,
      afterEpoch(tr: Trainer) {
        if (tr.epoch !== 0) return;
        unlinkSync(metrics);
        symlinkSync('/dev/full', metrics);
      },
    };
    const s = setup(5);
    const err = await fit({ ...s, ...quiet, checkpoint: {}, epochs: 3, outDir: out, callbacks: [fillDisk] }).then(
      () => assert.fail('the run went on'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GraftError, String(err));
    assert.equal(err.code, 'GRAFT_DISK_FULL');
    assert.match(err.message, /cannot append to .*metrics\.jsonl: no space left on the device \(ENOSPC\)/);
    assert.match(err.message, /--resume/);
    const ck = readCheckpoint(join(out, 'checkpoints', 'last.pth'));
    // last.pth is whole and is the end of epoch 1, the last one whose records were written
    assert.deepEqual([ck.tree.epoch, ck.tree.batch], [1, 0]);
    const names = [...readdirSync(out), ...readdirSync(join(out, 'checkpoints'))];
    assert.deepEqual(
      names.filter((n) => n.includes('.tmp')),
      [],
    );
  } finally {
    rmDir(out);
  }
});

test('the report is rendered when the run ends, not after every epoch', async () => {
  const out = tmpDir();
  try {
    const report = join(out, 'report.html');
    const seen: boolean[] = [];
    const look: Callback = { order: 200, afterEpoch: () => void seen.push(existsSync(report)) };
    const s = setup(6);
    await fit({ ...s, progress: false, checkpoint: false, export: false, epochs: 2, outDir: out, callbacks: [look] });
    assert.deepEqual(seen, [false, false]);
    assert.ok(existsSync(report));
    // everyMinutes: 0 renders after every epoch as well
    const seen2: boolean[] = [];
    const r2 = join(out, 'r2.html');
    const m2 = join(out, 'm2.jsonl');
    const look2: Callback = { order: 200, afterEpoch: () => void seen2.push(existsSync(r2)) };
    const every = new ReportCallback(r2, m2, { everyMinutes: 0 });
    await fit({ ...setup(6), ...quiet, epochs: 2, callbacks: [new MetricsLogger({ path: m2 }), every, look2] });
    assert.deepEqual(seen2, [true, true]);
    assert.equal(every.renders, 3);
  } finally {
    rmDir(out);
  }
});

test("fit's loadReport is in report.html: what the checkpoint filled, with a warning under half", async () => {
  const out = tmpDir();
  try {
    const s = setup(7);
    // a checkpoint holding only the last layer: 68 of the model's 212 parameters
    const donor = mlp(8).stateDict();
    const loadReport = loadCheckpoint(s.model, { '3.weight': donor.get('3.weight'), '3.bias': donor.get('3.bias') });
    await fit({ ...s, ...quiet, report: true, epochs: 1, outDir: out, loadReport });
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<h2>Checkpoint load<\/h2>/);
    assert.match(html, /<td>parameters loaded<\/td><td>68 of 212 \(32\.1%\)<\/td>/);
    assert.match(html, /class="warn">Less than half/);
    assert.match(html, /<details><summary>new: left as initialised \(2\)<\/summary>/);
  } finally {
    rmDir(out);
  }
});

test("a phase's boundary in a real run is its first step, with step records every 4 steps", async () => {
  const out = tmpDir();
  try {
    const s = setup(9); // 6 steps per epoch
    const runner = new PhaseRunner(s.model, {
      optimizer: { type: 'SGD', lr: 0.1 },
      phases: [
        { name: 'head', epochs: 1 },
        { name: 'all', epochs: 2, lr: { set: 0.01 } },
      ],
    });
    await fit({ model: s.model, runner, train: s.train, valid: s.valid, ...quiet, outDir: out, logEvery: 4 });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    assert.deepEqual(phaseBoundaries(recs), [
      { phase: 'head', step: 0, epoch: 0 },
      { phase: 'all', step: 6, epoch: 1 },
    ]);
    // stored once per epoch while constant, drawn to the last step
    const lrs = lrPoints(recs).map((p) => [p.step, p.value]);
    assert.deepEqual(lrs, [
      [0, 0.1],
      [6, 0.01],
      [12, 0.01],
      [18, 0.01],
    ]);
  } finally {
    rmDir(out);
  }
});
