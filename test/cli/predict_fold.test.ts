// `graft predict --fold-batchnorm` folds each BatchNorm into the convolution before it: the same classes
// and probabilities up to float rounding, from different (folded) weights.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import * as models from '../../src/models/index.ts';
import { manualSeed, noGrad, randn } from '../../src/tensor/index.ts';
import { saveModel } from '../../src/train/index.ts';
import { capture, rmDir, tmpDir, writeImage } from '../recipe/_helpers.ts';

const graft = (...args: string[]) => capture(() => main(args));
const dir = tmpDir('graft-predict-fold-');
const run = join(dir, 'run');
const photos = join(dir, 'photos');

before(async () => {
  mkdirSync(run);
  manualSeed(3);
  const model = models.create('resnet18', { numClasses: 3 });
  // running statistics away from (0, 1), so folding really changes the convolutions' weights
  model.train();
  noGrad(() => {
    for (let i = 0; i < 3; i++) model.call(randn([4, 3, 32, 32]).mul(2).add(0.5)).dispose();
  });
  model.eval();
  saveModel(run, model, {
    classNames: ['a', 'b', 'c'],
    preprocessing: { kind: 'image', inputSize: [3, 32, 32] },
  });
  model.dispose();
  for (let i = 0; i < 3; i++) await writeImage(join(photos, `${i}.png`), i, i + 1, 32, 32);
});
after(() => rmDir(dir));

type Pred = { input: string; top: { label: string; prob: number }[] };

test('--fold-batchnorm: the same predictions up to float rounding, computed by folded weights', async () => {
  const plain = await graft('predict', run, photos, '--json', '--top-k', '3');
  const folded = await graft('predict', run, photos, '--json', '--top-k', '3', '--fold-batchnorm');
  assert.equal(plain.code, 0, plain.err);
  assert.equal(folded.code, 0, folded.err);
  const p: Pred[] = JSON.parse(plain.out);
  const f: Pred[] = JSON.parse(folded.out);
  assert.equal(p.length, 3);
  let differ = false;
  p.forEach((x, i) => {
    const y = f[i]!;
    assert.equal(y.input, x.input);
    assert.deepEqual(
      y.top.map((t) => t.label),
      x.top.map((t) => t.label),
    );
    x.top.forEach((t, j) => {
      assert.ok(Math.abs(t.prob - y.top[j]!.prob) < 1e-4, `${t.prob} vs ${y.top[j]!.prob}`);
      if (t.prob !== y.top[j]!.prob) differ = true;
    });
  });
  // bit-identical probabilities everywhere would mean nothing was folded
  assert.ok(differ, 'folding changed no probability in its last bits');
});
