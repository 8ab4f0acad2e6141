// Recipes that prune while fine-tuning and quantize at the end: metrics records, baked masks,
// the int8 model file, and the refusals for what cannot be scheduled.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import * as quant from '../../src/quant/index.ts';
import {
  compareQuantized,
  evaluateRun,
  formatCompare,
  loadRecipe,
  prunePhases,
  pruneTargets,
  runRecipe,
} from '../../src/recipe/index.ts';
import { compressSection } from '../../src/report/index.ts';
import { quick, readJsonl, recipe, withTmp } from './_helpers.ts';

const zerosOf = (t: { data: Uint8Array; dtype: string }): [number, number] => {
  const f = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
  return [f.filter((v) => v === 0).length, f.length];
};

test('ResNet-18 recipe: pruned to its target in rounds, masks baked, int8 model saved and measured', async () => {
  await withTmp(async (dir) => {
    const out = join(dir, 'run');
    const loaded = loadRecipe(recipe('004_resnet18_prune_int8.yaml'), {
      set: [
        ...quick(2, { train: 8, val: 4, batch: 4 }),
        'phases[1].epochs=2',
        'quantize.observer=minmax',
        'quantize.calibrationBatches=2',
      ],
    });
    await runRecipe(loaded, { outDir: out });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    const prunes = recs.filter((r) => r.type === 'prune');
    assert.deepEqual(
      prunes.map((p) => [p.epoch, p.round, p.rounds, p.target]),
      [
        [1, 1, 2, 0.25],
        [2, 2, 2, 0.5],
      ],
    );
    assert.ok(Math.abs(prunes[1].sparsity - 0.5) < 1e-3, `sparsity ${prunes[1].sparsity}`);
    assert.equal(typeof prunes[1].evalAccuracy, 'number');
    // the exported weights hold the zeros and no pruning keys
    const st = readSafetensors(join(out, 'model.safetensors')).tensors;
    assert.ok(![...st.keys()].some((k) => k.endsWith('_orig') || k.endsWith('_mask')));
    let zeros = 0;
    let total = 0;
    for (const [k, t] of st)
      if (k.endsWith('.weight') && t.shape.length > 1 && k !== 'fc.weight') {
        const [z, n] = zerosOf(t);
        zeros += z;
        total += n;
      }
    assert.ok(Math.abs(zeros / total - 0.5) < 1e-3, `exported sparsity ${zeros / total}`);
    // the int8 model: measured against the float one, saved, loadable
    const q = recs.find((r) => r.type === 'quantize');
    assert.equal(q.mode, 'static');
    assert.equal(q.calibrationBatches, 2);
    assert.ok(q.float.bytes / q.int8.bytes > 3.5, `size ratio ${q.float.bytes / q.int8.bytes}`);
    for (const m of [q.float, q.int8]) {
      assert.equal(typeof m.accuracy, 'number');
      assert.ok(m.msPerBatch > 0);
    }
    const file = join(out, 'model.int8.safetensors');
    assert.ok(existsSync(file));
    const back = quant.loadQuantized(file, models.create('resnet18', { numClasses: 10 }));
    assert.ok(quant.isQuantized(back));
    assert.match(compressSection(recs), /Pruning[\s\S]*int8 quantization \(static, fbgemm qconfig/);
    // graft eval --weights int8 and --quantize
    const ev = await evaluateRun(out, { weights: 'int8' });
    assert.equal(ev.metrics.accuracy, q.int8.accuracy, 'the saved int8 model evaluates as measured');
    assert.equal(ev.metrics.loss, q.int8.loss, 'same loss: same weights, same preprocessing');
    const c = await compareQuantized(out, { mode: 'dynamic' });
    assert.equal(c.float.accuracy, q.float.accuracy);
    assert.ok(c.int8.bytes < c.float.bytes && c.int8.bytes > q.int8.bytes, 'dynamic: only fc is int8');
    assert.match(formatCompare(c), /int8 dynamic quantization[\s\S]*float32[\s\S]*int8/);
  });
});

test('prune and quantize sections that cannot run are refused before training', () => {
  const load = (sets: string[]) =>
    loadRecipe(recipe('004_resnet18_prune_int8.yaml'), { set: [...quick(2), ...sets] }).recipe;
  assert.throws(
    () => prunePhases(load(['phases[1].prune.steps=3'])),
    /phases\[1\]\.prune\.steps: 3 pruning rounds do not fit in 1 epochs/,
  );
  assert.throws(() => prunePhases(load(['train.export={weights: best}'])), /'best' is not supported with pruning/);
  const bySteps = load([]);
  bySteps.phases[0] = { name: 'train', steps: 5 };
  assert.throws(() => prunePhases(bySteps), /need epochs/);
  assert.throws(() => prunePhases(load(['train.device=cuda'])), /int8 kernels run on the CPU/);
  assert.throws(() => prunePhases({ ...load([]), task: 'causal-lm' }), /causal-LM runs are not supported/);
  assert.throws(() => load(['phases[1].prune.target=2']), /phases\[1\]\.prune\.target/);
  const net = models.create('resnet18', { numClasses: 10 });
  assert.throws(() => pruneTargets(net, { target: 0.5, modules: ['nope'] }), /no module 'nope'/);
  const targets = pruneTargets(net, { target: 0.5 });
  assert.equal(targets.length, 20, 'every conv, not the fc classifier');
  assert.equal(pruneTargets(net, { target: 0.5, modules: ['layer4'], exclude: ['layer4.1'] }).length, 3);
});
