// Exact resume: a run stopped after an epoch or in the middle of one, then resumed from its
// checkpoint in a fresh process state (new model, new optimizer), logs the same losses and ends
// with the same weights as a run that never stopped; also across a phase change.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { PhaseRunner, type RunSpec } from '../../src/finetune/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { type Callback, type FitOptions, fit, readCheckpoint } from '../../src/train/index.ts';
import { epochRecords, readJsonl, rmDir, type Setup, setup, stepLosses, tmpDir, weights } from './_helpers.ts';

const EPOCHS = 3;

function stopAt(
  cond: (t: { epoch: number; step: number; stepped: boolean }) => boolean,
  event: 'afterBatch' | 'afterEpoch',
): Callback {
  return {
    [event]: (t: Parameters<NonNullable<Callback['afterBatch']>>[0]) => {
      if (cond(t)) t.requestStop('test stop');
    },
  };
}

async function run(s: Setup, out: string, extra: Partial<FitOptions> = {}) {
  return fit({ ...s, epochs: EPOCHS, outDir: out, logEvery: 1, seed: 9, progress: false, export: false, ...extra });
}

/** A setup whose model starts from other weights: everything must come from the checkpoint. */
function freshSetup(): Setup {
  const s = setup(9);
  manualSeed(12345);
  for (const p of s.model.parameters()) p.requiresGrad_(false).mul_(0).add_(1).requiresGrad_(true);
  return s;
}

async function reference(): Promise<{ losses: number[]; w: number[][]; evalLosses: number[] }> {
  const out = tmpDir();
  try {
    const s = setup(9);
    await run(s, out);
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    return { losses: stepLosses(recs), w: weights(s.model), evalLosses: epochRecords(recs).map((e) => e.eval!.loss) };
  } finally {
    rmDir(out);
  }
}

test('resume after epoch 1 logs the same losses and ends with the same weights', async () => {
  const ref = await reference();
  const out = tmpDir();
  try {
    const first = await run(setup(9), out, { callbacks: [stopAt((t) => t.epoch === 0, 'afterEpoch')] });
    assert.equal(first.stopReason, 'test stop');
    assert.equal(first.epochsRun, 1);
    const s = freshSetup();
    const r = await run(s, out, { resume: true });
    assert.equal(r.trainer.resumedFrom, join(out, 'checkpoints', 'last.pth'));
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    assert.deepEqual(stepLosses(recs), ref.losses);
    assert.deepEqual(
      epochRecords(recs).map((e) => e.eval!.loss),
      ref.evalLosses,
    );
    assert.deepEqual(weights(s.model), ref.w);
    assert.ok(recs.some((x) => x.type === 'run' && x.event === 'resume'));
  } finally {
    rmDir(out);
  }
});

test('resume in the middle of an epoch (checkpoint every 2 steps, stopped at step 8)', async () => {
  const ref = await reference();
  const out = tmpDir();
  try {
    await run(setup(9), out, {
      checkpoint: { everySteps: 2 },
      callbacks: [stopAt((t) => t.step === 9 && t.stepped, 'afterBatch')],
    });
    const ck = readCheckpoint(join(out, 'checkpoints', 'last.pth')).tree;
    assert.equal(ck.epoch, 1, 'stopped in the second epoch');
    assert.equal(ck.batch, 3);
    assert.equal(ck.step, 9);
    const s = freshSetup();
    await run(s, out, { resume: join(out, 'checkpoints', 'last.pth'), checkpoint: { everySteps: 2 } });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    assert.deepEqual(stepLosses(recs), ref.losses);
    assert.deepEqual(
      epochRecords(recs).map((e) => e.eval!.loss),
      ref.evalLosses,
    );
    assert.deepEqual(weights(s.model), ref.w);
  } finally {
    rmDir(out);
  }
});

test('a crash after a mid-epoch checkpoint: records past it are dropped, the rest continues exactly', async () => {
  const ref = await reference();
  const out = tmpDir();
  try {
    const boom: Callback = {
      afterBatch: (t) => {
        if (t.step === 11) throw new Error('simulated crash');
      },
    };
    await assert.rejects(run(setup(9), out, { checkpoint: { everySteps: 4 }, callbacks: [boom] }), /simulated crash/);
    assert.equal(readCheckpoint(join(out, 'checkpoints', 'last.pth')).tree.step, 8);
    const s = freshSetup();
    await run(s, out, { resume: true });
    assert.deepEqual(stepLosses(readJsonl(join(out, 'metrics.jsonl'))), ref.losses);
    assert.deepEqual(weights(s.model), ref.w);
  } finally {
    rmDir(out);
  }
});

// head only for an epoch with SGD, then everything with Adam and a StepLR: the phase, the
// optimizer switch and the scheduler come back from the checkpoint
const spec = (): RunSpec => ({
  optimizer: { type: 'SGD', lr: 0.05, momentum: 0.9 },
  groups: {
    groups: [
      { name: 'body', match: '0' },
      { name: 'head', match: '3' },
    ],
    noDecay: false,
  },
  phases: [
    { name: 'head', epochs: 1, freeze: { freeze: '0' } },
    {
      name: 'all',
      epochs: 2,
      freeze: 'none',
      optimizer: { type: 'Adam', lr: 0.01 },
      lr: { set: 0.01 },
      scheduler: { type: 'StepLR', step_size: 1, gamma: 0.5 },
    },
  ],
});

async function phaseRun(out: string, extra: Partial<FitOptions> = {}, fresh = false) {
  const s = fresh ? freshSetup() : setup(9);
  const runner = new PhaseRunner(s.model, spec());
  const r = await fit({
    model: s.model,
    runner,
    train: s.train,
    valid: s.valid,
    outDir: out,
    logEvery: 1,
    seed: 9,
    progress: false,
    export: false,
    ...extra,
  });
  return { r, w: weights(s.model), recs: readJsonl(join(out, 'metrics.jsonl')) };
}

test('phases: resume across the phase change (optimizer switch, scheduler) is exact', async () => {
  const a = tmpDir();
  const b = tmpDir();
  try {
    const ref = await phaseRun(a);
    const eps = epochRecords(ref.recs);
    assert.deepEqual(
      eps.map((e) => e.phase),
      ['head', 'all', 'all'],
    );
    assert.deepEqual(
      eps.map((e) => e.lr),
      [
        [0.05, 0.05],
        [0.01, 0.01],
        [0.005, 0.005],
      ],
    );
    assert.ok(ref.recs.some((x) => x.type === 'run' && x.event === 'note' && /Adam/.test(x.message ?? '')));
    await phaseRun(b, {
      callbacks: [stopAt((t) => t.step === 8 && t.stepped, 'afterBatch')],
      checkpoint: { everySteps: 8 },
    });
    const res = await phaseRun(b, { resume: true }, true);
    assert.equal(res.r.trainer.optimizer.type, 'Adam');
    assert.deepEqual(stepLosses(res.recs), stepLosses(ref.recs));
    assert.deepEqual(res.w, ref.w);
  } finally {
    rmDir(a);
    rmDir(b);
  }
});

test('resume refuses a checkpoint made with another seed', async () => {
  const out = tmpDir();
  try {
    await run(setup(9), out, { callbacks: [stopAt((t) => t.epoch === 0, 'afterEpoch')] });
    await assert.rejects(
      run(freshSetup(), out, { resume: true, seed: 10 }),
      /trained with seed 9, this run has seed 10/,
    );
  } finally {
    rmDir(out);
  }
});
