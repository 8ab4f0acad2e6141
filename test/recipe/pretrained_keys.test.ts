// model.pretrained's key filters on the checkpoint's own names (includeOriginal / excludeOriginal):
// the post keeps every key *containing* 'fc2' of a DataParallel checkpoint ('module.fc2.weight'),
// before the 'module.' prefix is stripped.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import { recipeFrom } from '../../src/recipe/index.ts';
import { buildModel } from '../../src/recipe/model.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { savePth, withTmp } from './_helpers.ts';

test('includeOriginal keeps checkpoint keys containing a string, before rename; excludeOriginal drops them', async () => {
  await withTmp((dir) => {
    manualSeed(3);
    const net = models.create('cifar_net');
    const file = savePth(join(dir, 'dp.pth'), net, 'module.');
    net.dispose();
    const spec = (extra: Record<string, unknown>) => ({
      name: 'cifar_net',
      pretrained: { checkpoint: file, rename: { stripPrefix: 'module.' }, ...extra },
    });
    const only = buildModel(spec({ includeOriginal: 'fc2' }) as never, 10, 'weights');
    assert.deepEqual(only.loadReport?.loaded, ['fc2.weight', 'fc2.bias']);
    only.model.dispose();
    const rest = buildModel(spec({ excludeOriginal: ['fc2', '/^module\\.conv/'] }) as never, 10, 'weights');
    const loaded = rest.loadReport?.loaded ?? [];
    assert.ok(loaded.length > 0 && loaded.every((k) => !k.startsWith('fc2') && !k.startsWith('conv')), loaded.join());
    rest.model.dispose();
  });
});

test('a recipe accepts includeOriginal / excludeOriginal under model.pretrained', () => {
  const r = recipeFrom({
    model: {
      name: 'cifar_net',
      pretrained: { checkpoint: 'x.pth', includeOriginal: 'classifier', excludeOriginal: ['*.num_batches_tracked'] },
    },
    data: { kind: 'fashion-mnist' },
    optimizer: { type: 'SGD', lr: 0.01 },
    phases: [{ epochs: 1 }],
  } as never);
  assert.equal((r.recipe.model.pretrained as { includeOriginal?: string }).includeOriginal, 'classifier');
});
