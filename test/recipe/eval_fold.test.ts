// `graft eval RUN --fold-batchnorm`: the run's ResNet evaluated with each BatchNorm folded into its
// convolution gives the metrics of the unfolded model up to float rounding.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { evaluateRun, loadRecipe, runRecipe } from '../../src/recipe/index.ts';
import { capture, quick, recipe, withTmp } from './_helpers.ts';

test('eval --fold-batchnorm: the same metrics up to float rounding; refused for the int8 model and recipes', async () => {
  await withTmp(async (dir) => {
    const out = join(dir, 'run');
    const loaded = loadRecipe(recipe('004_resnet18_prune_int8.yaml'), {
      set: [
        ...quick(1, { train: 8, val: 8, batch: 4 }),
        'phases=[{name: train, epochs: 1}]',
        'quantize=null',
        'optimizer.lr=0.001',
      ],
    });
    await runRecipe(loaded, { outDir: out });
    const plain = await evaluateRun(out, {});
    const folded = await evaluateRun(out, { foldBatchNorm: true });
    assert.equal(folded.metrics.items, plain.metrics.items);
    assert.equal(folded.metrics.accuracy, plain.metrics.accuracy);
    assert.ok(
      Math.abs(folded.metrics.loss - plain.metrics.loss) <= 1e-5 * Math.abs(plain.metrics.loss),
      `${folded.metrics.loss} vs ${plain.metrics.loss}`,
    );
    // folded weights round differently: bit-equal losses would mean nothing was folded
    assert.notEqual(folded.metrics.loss, plain.metrics.loss);
    const r = await capture(() => main(['eval', out, '--weights', 'int8', '--fold-batchnorm']));
    assert.equal(r.code, 1);
    assert.match(r.err, /fused already/);
  });
});
