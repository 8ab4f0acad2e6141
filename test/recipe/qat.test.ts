// A recipe that trains with fake quantization (quantize.mode: qat): the QAT schedule, the int8
// model measured and saved, the float weights exported under their float names, exact resume.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import * as quant from '../../src/quant/index.ts';
import { evaluateRun, loadRecipe, runRecipe } from '../../src/recipe/index.ts';
import { quick, readJsonl, recipe, withTmp } from './_helpers.ts';

const settings = (extra: string[] = []) => [
  ...quick(1, { train: 8, val: 4, batch: 4 }),
  'phases[0].epochs=3',
  'quantize.freezeBnAfter=1',
  'quantize.observersOffAfter=2',
  ...extra,
];

test('ResNet-18 QAT recipe: trains fake-quantized, ends int8 (saved, measured), exports float weights', async () => {
  await withTmp(async (dir) => {
    const out = join(dir, 'run');
    await runRecipe(loadRecipe(recipe('004_resnet18_qat_int8.yaml'), { set: settings() }), { outDir: out });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    assert.equal(recs.filter((r) => r.type === 'epoch').length, 3);
    const q = recs.find((r) => r.type === 'quantize');
    assert.equal(q.mode, 'qat');
    assert.equal(q.backend, 'fbgemm');
    assert.ok(q.float.bytes / q.int8.bytes > 3.5, `size ratio ${q.float.bytes / q.int8.bytes}`);
    // model.safetensors: the float architecture's own keys (no fake-quant state)
    const keys = [...readSafetensors(join(out, 'model.safetensors')).tensors.keys()];
    assert.ok(keys.includes('bn1.running_mean') && keys.includes('fc.weight'));
    assert.ok(!keys.some((k) => k.includes('fake_quant') || k.includes('activation_post_process')));
    // the int8 file loads into a fresh float ResNet-18 and evaluates as measured
    const back = quant.loadQuantized(
      join(out, 'model.int8.safetensors'),
      models.create('resnet18', { numClasses: 10 }),
    );
    assert.ok(quant.isQuantized(back));
    const ev = await evaluateRun(out, { weights: 'int8' });
    assert.equal(ev.metrics.loss, q.int8.loss, 'the saved int8 model evaluates as measured');
    // the float weights QAT trained were exported as measured (measuring ran in eval mode)
    const fl = await evaluateRun(out, { weights: 'model' });
    assert.equal(fl.metrics.loss, q.float.loss, 'the exported float model evaluates as measured');
  });
});

test('QAT recipe: a run stopped after epoch 2 resumes to the same int8 model', async () => {
  await withTmp(async (dir) => {
    const full = join(dir, 'full');
    const part = join(dir, 'part');
    await runRecipe(loadRecipe(recipe('004_resnet18_qat_int8.yaml'), { set: settings() }), { outDir: full });
    await runRecipe(loadRecipe(recipe('004_resnet18_qat_int8.yaml'), { set: settings(['phases[0].epochs=2']) }), {
      outDir: part,
    });
    // the shorter run's checkpoint continues under the full recipe
    await runRecipe(loadRecipe(recipe('004_resnet18_qat_int8.yaml'), { set: settings() }), {
      outDir: part,
      resume: true,
    });
    const a = readSafetensors(join(full, 'model.int8.safetensors')).tensors;
    const b = readSafetensors(join(part, 'model.int8.safetensors')).tensors;
    assert.deepEqual([...a.keys()], [...b.keys()]);
    for (const [k, t] of a) assert.deepEqual(b.get(k)!.data, t.data, `${k} equal after resume`);
  });
});

test('QAT recipe refusals: QAT switches without mode qat, exporting the best weights', async () => {
  await withTmp(async (dir) => {
    const prune = loadRecipe(recipe('004_resnet18_prune_int8.yaml'), {
      set: [...quick(2, { train: 8, val: 4, batch: 4 }), 'quantize.freezeBnAfter=1'],
    });
    await assert.rejects(
      runRecipe(prune, { outDir: join(dir, 'a') }),
      /quantize\.freezeBnAfter[\s\S]*only for mode: qat/,
    );
    const best = loadRecipe(recipe('004_resnet18_qat_int8.yaml'), { set: settings(['train.export.weights=best']) });
    await assert.rejects(runRecipe(best, { outDir: join(dir, 'b') }), /train\.export\.weights[\s\S]*last weights/);
  });
});
