// Quantization-aware training as one phase after float phases: float training is untouched until
// the QAT phase starts (same losses as the run without QAT), the checkpoints from then on hold the
// QAT form, a run stopped inside the QAT phase resumes to the same int8 file byte for byte, the plan
// shows the phase, and combinations that cannot run are refused by recipe path.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as quant from '../../src/quant/index.ts';
import { planRecipe, qatPlan, recipeFrom, runRecipe } from '../../src/recipe/index.ts';
import { readCheckpoint } from '../../src/train/index.ts';
import { stepLosses, writeIdx } from '../reliability/_run.ts';
import { readJsonl, withTmp } from './_helpers.ts';

// a ResNet-18 on 16 x 16 images, 4 steps an epoch: head only, then all, then 3 epochs of QAT
const tiny = (idx: string, o: { qat?: boolean; phases?: unknown[]; extra?: Record<string, unknown> } = {}) => ({
  name: 'qat-phase',
  model: { name: 'resnet18' },
  data: { kind: 'idx', root: idx, classes: ['a', 'b', 'c', 'd'], imageSize: 16, batchSize: 4 },
  optimizer: { type: 'SGD', lr: 0.02, momentum: 0.9 },
  phases: o.phases ?? [
    { name: 'head', epochs: 1, freeze: { freeze: '*', train: 'fc' } },
    { name: 'all', epochs: 1, freeze: 'none' },
    {
      name: 'qat',
      epochs: 3,
      lr: { scale: 0.5 },
      ...(o.qat === false ? {} : { qat: { freezeBnAfter: 1, observersOffAfter: 2 } }),
    },
  ],
  train: {
    seed: 2,
    threads: 2,
    logEvery: 1,
    report: false,
    monitor: 'train.loss',
  },
  ...o.extra,
});

const modelKeys = (file: string): string[] => {
  const m = readCheckpoint(file).tree.model;
  return m instanceof Map ? [...m.keys()] : Object.keys(m);
};

test('a QAT phase after float phases: float until it starts, int8 at the end, exact resume inside it', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 16, test: 8 });
    const full = join(dir, 'full');
    await runRecipe(recipeFrom(tiny(idx)), { outDir: full });
    const recs = readJsonl(join(full, 'metrics.jsonl'));
    const note = recs.find((r) => r.type === 'run' && /quantization-aware training starts/.test(r.message ?? ''));
    assert.equal(note?.epoch, 2, 'QAT starts with the third epoch (phase 2)');
    const q = recs.find((r) => r.type === 'quantize');
    assert.equal(q.mode, 'qat');
    assert.ok(q.float.bytes / q.int8.bytes > 3.5, `size ratio ${q.float.bytes / q.int8.bytes}`);
    assert.ok(modelKeys(join(full, 'checkpoints', 'last.pth')).some((k) => k.includes('weight_fake_quant')));

    // the float phases train exactly as the same recipe without QAT; the QAT phase does not
    const plain = join(dir, 'plain');
    await runRecipe(recipeFrom(tiny(idx, { qat: false })), { outDir: plain });
    const a = stepLosses(full);
    const b = stepLosses(plain);
    assert.equal(a.length, 20);
    assert.deepEqual(a.slice(0, 8), b.slice(0, 8), 'epochs 0-1: float training, unchanged');
    assert.notDeepEqual(a.slice(8), b.slice(8), 'epochs 2-4 train fake-quantized');

    // SIGINT at step 14 (epoch 3, batch 2: BatchNorm frozen, observers on): stopped with a checkpoint
    // there, not quantized yet; resumed, it ends as the run that never stopped
    const part = join(dir, 'part');
    await runRecipe(recipeFrom(tiny(idx)), {
      outDir: part,
      handleSignals: true,
      onProgress: (p) => {
        if (p.kind === 'step' && p.step === 14) process.emit('SIGINT');
      },
    });
    const ck = readCheckpoint(join(part, 'checkpoints', 'last.pth')).tree;
    assert.deepEqual([Number(ck.epoch), Number(ck.batch)], [3, 2], 'the checkpoint is inside the QAT phase');
    assert.ok(!existsSync(join(part, 'model.int8.safetensors')), 'a stopped run is quantized when it ends');
    await runRecipe(recipeFrom(tiny(idx)), { outDir: part, resume: true });
    assert.deepEqual(
      readFileSync(join(part, 'model.int8.safetensors')),
      readFileSync(join(full, 'model.int8.safetensors')),
      'the same int8 file, byte for byte',
    );
    assert.deepEqual(readFileSync(join(part, 'model.safetensors')), readFileSync(join(full, 'model.safetensors')));
    assert.deepEqual(stepLosses(part), a);
    // the int8 file loads back into the float architecture
    const back = quant.loadQuantized(
      join(full, 'model.int8.safetensors'),
      (await import('../../src/models/index.ts')).create('resnet18', { numClasses: 4 }),
    );
    assert.ok(quant.isQuantized(back));
  });
});

test('graft plan shows the QAT phase; impossible QAT recipes are refused by path', () => {
  const idx = '/nonexistent';
  const plan = qatPlan(recipeFrom(tiny(idx)).recipe)!;
  assert.deepEqual(
    { ...plan },
    { index: 2, name: 'qat', start: 2, backend: 'fbgemm', freezeBnAfter: 1, observersOffAfter: 2 },
  );
  const p = planRecipe(recipeFrom(tiny(idx)));
  assert.match(p.text, /quantization-aware training: from phase 2 'qat' \(epoch 2\) to the end, fbgemm qconfig/);
  assert.match(p.text, /BatchNorm statistics frozen from epoch 3, observers off from epoch 4/);
  assert.equal(p.json.qat?.start, 2);
  // quantize: {mode: qat} alone is QAT from the first phase
  const whole = recipeFrom(
    tiny(idx, { phases: [{ epochs: 2 }], extra: { quantize: { mode: 'qat', backend: 'qnnpack' } } }),
  );
  assert.deepEqual({ ...qatPlan(whole.recipe)! }, { index: 0, name: undefined, start: 0, backend: 'qnnpack' });

  const refused = (o: Parameters<typeof tiny>[1], re: RegExp) =>
    assert.throws(() => qatPlan(recipeFrom(tiny(idx, o)).recipe), re);
  const qatPhase = { name: 'qat', epochs: 1, freeze: 'none', qat: {} };
  refused(
    { phases: [qatPhase, { ...qatPhase }] },
    /phases\[1\]\.qat: quantization-aware training already starts at phases\[0\]/,
  );
  refused({ extra: { quantize: { mode: 'static' } } }, /quantize\.mode: 'static', but phases\[2\]\.qat trains/);
  refused(
    { extra: { quantize: { mode: 'qat', freezeBnAfter: 1 } } },
    /quantize\.freezeBnAfter: the run has a QAT phase \(phases\[2\]\.qat\)/,
  );
  refused(
    { extra: { quantize: { mode: 'qat', backend: 'qnnpack' } }, phases: [{ ...qatPhase, qat: { backend: 'x86' } }] },
    /phases\[0\]\.qat\.backend: 'x86', but quantize\.backend is 'qnnpack'/,
  );
  refused({ phases: [{ steps: 3 }, qatPhase] }, /phases\[0\]\.epochs: quantization-aware training starts at an epoch/);
  refused(
    {
      phases: [
        { epochs: 1, freeze: { freeze: '*', train: 'fc' } },
        { epochs: 1, qat: {} },
      ],
    },
    /phases\[0\]\.freeze: quantization-aware training trains the whole model, but phases\[1\]/,
  );
  refused(
    { phases: [{ epochs: 1, prune: { target: 0.5 } }, qatPhase] },
    /phases\[0\]\.prune: pruning and quantization-aware training in one run are not supported/,
  );
  refused(
    { phases: [{ ...qatPhase, cacheFeatures: 'memory' }] },
    /phases\[0\]\.cacheFeatures: features cannot be cached/,
  );
  refused(
    { extra: { train: { export: { weights: 'best' } } } },
    /train\.export\.weights: quantization-aware training exports the last weights/,
  );
});
