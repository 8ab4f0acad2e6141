// model.pretrained.checkpoint with a BERT file in the old TF-converted names (LayerNorm.gamma /
// LayerNorm.beta, as bert-base-uncased's pytorch_model.bin has them): renamed to weight / bias as
// transformers' loader does, each rename in the load report, the values loaded where they belong.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import { buildModel } from '../../src/recipe/model.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { savePth, stateDictRaw, tinyBert, withTmp } from './_helpers.ts';

const legacy = (k: string) =>
  k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');

test('legacy LayerNorm.gamma / beta keys load as weight / bias, reported as renamed', async () => {
  await withTmp(async (dir) => {
    const config = tinyBert(12);
    manualSeed(7);
    const src = models.create('bert-base-uncased', { config, numClasses: 2 });
    const sd = new Map([...stateDictRaw(src, '', (k) => k.startsWith('bert.'))].map(([k, t]) => [legacy(k), t]));
    assert.ok(sd.has('bert.embeddings.LayerNorm.gamma') && !sd.has('bert.embeddings.LayerNorm.weight'));
    const file = join(dir, 'pytorch_model.bin');
    savePth(file, models.create('cifar_net'), 'unused.', sd);
    const spec = {
      name: 'bert-base-uncased',
      options: { config },
      pretrained: { checkpoint: file, subDict: 'model', includeOriginal: 'bert.' },
    };
    const built = buildModel(spec as never, 2, 'weights');
    const r = built.loadReport!;
    const layerNorms = [...sd.keys()].filter((k) => /LayerNorm\.(gamma|beta)$/.test(k));
    assert.equal(layerNorms.length, 2 * (1 + 2 * 2), 'embeddings + 2 per layer x 2 layers, weight and bias');
    assert.deepEqual(
      r.renamed.map((x) => x.from).sort(),
      layerNorms.sort(),
      'every legacy LayerNorm key is reported renamed',
    );
    assert.ok(r.renamed.every((x) => x.to === x.from.replace(/gamma$/, 'weight').replace(/beta$/, 'bias')));
    assert.equal(r.unexpected.length, 0);
    assert.ok(!r.missing.some((k) => k.includes('LayerNorm')), r.missing.join());
    assert.match(r.plan.join('; '), /LayerNorm\\\.gamma\$\/ -> '\$1LayerNorm\.weight'/);
    assert.match(r.table(), /renamed 10,/);
    // the values are the source model's
    const want = src.stateDict();
    for (const [k, t] of built.model.stateDict())
      if (k.includes('LayerNorm')) assert.deepEqual(t.data(), want.get(k)!.data(), k);
    // the preview (graft plan) reports the same renames
    const preview = buildModel(spec as never, 2, 'preview').loadReport!;
    assert.deepEqual(preview.renamed, r.renamed);
    assert.equal(preview.error, null);
    built.model.dispose();
    src.dispose();
  });
});

test("a recipe's own gamma rename rule still works; models without LayerNorm modules get no extra rules", async () => {
  await withTmp(async (dir) => {
    const config = tinyBert(12);
    const src = models.create('bert-base-uncased', { config, numClasses: 2 });
    const sd = new Map([...stateDictRaw(src)].map(([k, t]) => [legacy(k), t]));
    const file = join(dir, 'legacy.pth');
    savePth(file, models.create('cifar_net'), 'unused.', sd);
    const own = buildModel(
      {
        name: 'bert-base-uncased',
        options: { config },
        pretrained: {
          checkpoint: file,
          subDict: 'model',
          includeOriginal: 'bert.',
          rename: [
            ['gamma$', 'weight'],
            ['beta$', 'bias'],
          ],
        },
      } as never,
      2,
      'weights',
    );
    assert.equal(own.loadReport!.renamed.length, 10);
    assert.equal(own.loadReport!.unexpected.length, 0);
    const cifar = join(dir, 'cifar.pth');
    savePth(cifar, models.create('cifar_net'));
    const plain = buildModel({ name: 'cifar_net', pretrained: { checkpoint: cifar } } as never, 10, 'weights');
    assert.ok(!plain.loadReport!.plan.some((p) => p.includes('LayerNorm')), plain.loadReport!.plan.join());
    own.model.dispose();
    plain.model.dispose();
    src.dispose();
  });
});
