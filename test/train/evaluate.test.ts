// One evaluation loop (src/train/evaluate.ts) for the trainer's validation, `graft eval` and
// `graft predict`: the same numbers everywhere, eval mode without gradients, the model's modes put
// back afterwards, predictions batched without changing them.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import { evaluateModel, predict } from '../../src/recipe/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { evaluate, fit, forEachOutput, saveModel } from '../../src/train/index.ts';
import { rmDir, textData, tinyBert, tmpDir, writeImage } from '../recipe/_helpers.ts';
import { setup } from './_helpers.ts';

test("evaluate() gives the trainer's validation metrics exactly", async () => {
  const s = setup(3);
  const r = await fit({ ...s, epochs: 1, progress: false });
  const m = await evaluate(s.model, s.valid);
  assert.deepEqual(m, r.trainer.evalMetrics);
  assert.equal(m.items, 40);
});

test("the loop runs in eval mode without gradients and puts every module's mode back", async () => {
  const s = setup(3);
  const dropout = [...s.model.modules()][3]!;
  dropout.training = false; // one module held in eval mode, the rest training
  const seen: boolean[] = [];
  await forEachOutput(s.model, s.valid, {}, ({ output }) => {
    seen.push([...s.model.modules()].some((x) => x.training));
    assert.equal((output as { requiresGrad: boolean }).requiresGrad, false);
  });
  assert.deepEqual(seen, [false, false, false]);
  assert.deepEqual(
    [...s.model.modules()].map((x) => x.training),
    [true, true, true, false, true],
  );
  // `graft eval`'s evaluateModel is the same loop: same numbers, modes restored too
  const loader = { iterate: () => s.valid.batches(0, 0), length: s.valid.length };
  assert.deepEqual(await evaluateModel(s.model, loader as never), await evaluate(s.model, s.valid));
  assert.equal(s.model.training, true);
});

test('predict runs batches through the loop; batching does not change the predictions', async () => {
  const dir = tmpDir('graft-eval-loop-');
  try {
    const run = join(dir, 'run');
    mkdirSync(run);
    const model = models.create('cifar_net', { numClasses: 3 });
    saveModel(run, model, { classNames: ['a', 'b', 'c'], preprocessing: { kind: 'image', inputSize: [3, 32, 32] } });
    model.dispose();
    const files: string[] = [];
    for (let i = 0; i < 5; i++) {
      const f = join(dir, `img${i}.png`);
      await writeImage(f, i % 3, i, 20 + i * 3, 18 + i);
      files.push(f);
    }
    const one = await predict(run, files, { batchSize: 1 });
    const four = await predict(run, files, { batchSize: 4 });
    assert.deepEqual(
      four.map((p) => p.input),
      files,
    );
    one.forEach((p, i) => {
      assert.deepEqual(
        four[i]!.top.map((t) => t.index),
        p.top.map((t) => t.index),
      );
      p.top.forEach((t, j) => {
        assert.ok(Math.abs(t.prob - four[i]!.top[j]!.prob) < 1e-5);
      });
    });
    await assert.rejects(predict(run, files, { batchSize: 0 }), /batchSize must be an integer >= 1/);
  } finally {
    rmDir(dir);
  }
});

test('a text model predicts lines of text in batches, in order', async () => {
  const dir = tmpDir('graft-eval-loop-');
  try {
    const text = textData(join(dir, 'text'));
    const run = join(dir, 'run');
    mkdirSync(run);
    const config = tinyBert(text.vocabSize);
    manualSeed(3);
    const model = models.create('bert-base-uncased', { numClasses: 2, config });
    saveModel(run, model, {
      classNames: ['neg', 'pos'],
      modelOptions: { numClasses: 2, config },
      preprocessing: { kind: 'text', tokenizer: { vocab: text.vocab }, maxLength: 16 },
    });
    model.dispose();
    const texts = ['the movie was great', 'awful', 'the movie was very very poor', 'fine'];
    const all = await predict(run, texts, { batchSize: 4 });
    const pairs = await predict(run, texts, { batchSize: 3 });
    assert.deepEqual(
      pairs.map((p) => p.input),
      texts,
    );
    all.forEach((p, i) => {
      assert.deepEqual(p.top.map((t) => t.label).sort(), ['neg', 'pos']);
      assert.ok(Math.abs(p.top[0]!.prob - pairs[i]!.top[0]!.prob) < 1e-5);
    });
  } finally {
    rmDir(dir);
  }
});
