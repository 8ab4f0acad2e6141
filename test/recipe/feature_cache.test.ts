// train.cacheFeatures in a recipe: a frozen-backbone ResNet-18 run caches the backbone's pooled
// features (auto), gives the metrics of the same run with the cache off, and `graft plan` shows
// what is cached per phase and why not when not.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadRecipe, planRecipe, runRecipe } from '../../src/recipe/index.ts';
import { imageFolder, readJsonl, withTmp } from './_helpers.ts';

const YAML = `
name: cache-test
model: { name: resnet18, numClasses: 2 }
data: { kind: image-folder, root: data, imageSize: 16, batchSize: 4 }
optimizer: { type: SGD, lr: 0.01, momentum: 0.9 }
phases:
  - { name: head, epochs: 2, freeze: { freeze: '!fc' } }
  - { name: layer4, epochs: 1, freeze: { freeze: '*', train: [layer4, fc] }, cacheFeatures: off }
train: { threads: 2, report: false, checkpoint: false, export: false }
`;

test('a frozen-backbone recipe trains from cached features exactly as without them', async () => {
  await withTmp(async (dir) => {
    await imageFolder(join(dir, 'data'), ['a', 'b'], { train: 4, val: 2 });
    const file = join(dir, 'r.yaml');
    writeFileSync(file, YAML);
    const epochs = async (set: string[], out: string) => {
      const lines: string[] = [];
      await runRecipe(loadRecipe(file, { set }), { outDir: join(dir, out), log: (l) => lines.push(l) });
      const recs = readJsonl(join(dir, out, 'metrics.jsonl')).filter((r) => r.type === 'epoch');
      return { lines, metrics: recs.map((r) => [r.train.loss, r.eval.loss, r.eval.accuracy]) };
    };
    const off = await epochs(['train.cacheFeatures=off'], 'off');
    const on = await epochs([], 'on');
    assert.deepEqual(on.metrics, off.metrics);
    assert.equal(off.lines.filter((l) => l.startsWith('feature cache')).length, 0);
    const cacheLines = on.lines.filter((l) => l.startsWith('feature cache'));
    assert.ok(
      cacheLines.some((l) =>
        /^feature cache \(train\): on: 8 rows of \[512\] float32 .* after avgpool \+ flatten$/.test(l),
      ),
      cacheLines.join('\n'),
    );
    assert.ok(cacheLines.some((l) => l.startsWith('feature cache (val): on: 4 rows')));
  });
});

test('graft plan shows the cached prefix and its size, or why not', async () => {
  await withTmp(async (dir) => {
    await imageFolder(join(dir, 'data'), ['a', 'b'], { train: 4, val: 2 });
    const file = join(dir, 'r.yaml');
    writeFileSync(file, YAML);
    const p = planRecipe(loadRecipe(file));
    const fc = p.json.featureCache!;
    assert.equal(fc.length, 2);
    assert.deepEqual([fc[0]!.train.on, fc[0]!.train.bytes, fc[0]!.train.sampleShape], [true, 8 * 512 * 4, [512]]);
    assert.equal(fc[0]!.train.prefix!.length, 13);
    assert.deepEqual([fc[1]!.mode, fc[1]!.train.on, fc[1]!.train.reason], ['off', false, 'cacheFeatures is off']);
    assert.match(
      p.text,
      /phase 0:\n {4}train: cached after conv1 \.\. avgpool \+ flatten \(13 stages\), \[512\] per sample/,
    );
    const random = planRecipe(
      loadRecipe(file, { set: ['data.transforms={train: [{resize: 16}, randomHorizontalFlip, {normalize: model}]}'] }),
    );
    assert.match(random.text, /train: off: the train transforms are random \(randomHorizontalFlip\)/);
    assert.match(random.text, /val: cached after conv1/);
  });
});
