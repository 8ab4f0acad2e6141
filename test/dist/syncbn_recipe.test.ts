// train.distributed.syncBatchNorm in a recipe: under several processes the model's BatchNorms are
// SyncBatchNorms (the same tensors, set up before the phases hook them); in one process, without
// a `dist` share, the model is left as it is; with quantization-aware training it is refused.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SyncBatchNorm } from '../../src/dist/index.ts';
import { readSafetensors } from '../../src/io/index.ts';
import { buildRun, loadRecipe } from '../../src/recipe/index.ts';
import { graft, graftChild, withTmp, writeIdx } from '../reliability/_run.ts';

function floats(file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, raw] of readSafetensors(file).tensors)
    if (raw.dtype === 'float32')
      out.set(
        k,
        new Float32Array(raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength)),
      );
  return out;
}

function recipe(dir: string, extra = ''): string {
  const idx = writeIdx(join(dir, 'idx'), { train: 16, test: 4 });
  const file = join(dir, 'bn.yaml');
  writeFileSync(
    file,
    [
      'name: bn',
      'model: { name: resnet18 }',
      `data: { kind: idx, root: ${idx}, classes: [a, b, c, d], imageSize: 32, batchSize: 4 }`,
      'optimizer: { type: SGD, lr: 0.01 }',
      'phases: [{ name: all, epochs: 1 }]',
      'train: { seed: 1, threads: 1, report: false, distributed: { syncBatchNorm: true } }',
      extra,
    ].join('\n'),
  );
  return file;
}

test('syncBatchNorm: BatchNorms become SyncBatchNorms under several processes, not in one', async () => {
  await withTmp(async (dir) => {
    const file = recipe(dir);
    const kinds = (p: ReturnType<typeof buildRun>) => {
      const all = [...p.model.modules()];
      return {
        sync: all.filter((m) => m instanceof SyncBatchNorm).length,
        plain: all.filter((m) => /^BatchNorm/.test(m.constructor.name)).length,
      };
    };
    const one = buildRun(loadRecipe(file), { outDir: join(dir, 'one') });
    try {
      assert.deepEqual(kinds(one), { sync: 0, plain: 20 });
    } finally {
      await one.dispose();
    }
    const rank = buildRun(loadRecipe(file), {
      outDir: join(dir, 'two'),
      dist: { rank: 1, worldSize: 2, localRank: 1 },
    });
    try {
      assert.deepEqual(kinds(rank), { sync: 20, plain: 0 });
      // the optimizer the run builds trains the SyncBatchNorms' own parameters
      const bn = rank.model.getSubmodule('bn1') as SyncBatchNorm;
      assert.ok([...rank.model.parameters()].includes(bn.weight!));
      assert.deepEqual(
        [...rank.model.stateDict().keys()].filter((k) => k.startsWith('bn1.')),
        ['bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked'],
      );
    } finally {
      await rank.dispose();
    }
  });
});

test('syncBatchNorm with quantize.mode qat is refused, naming the field', async () => {
  await withTmp(async (dir) => {
    const file = recipe(dir, 'quantize: { mode: qat }');
    assert.throws(
      () => buildRun(loadRecipe(file), { outDir: join(dir, 'q'), dist: { rank: 0, worldSize: 2, localRank: 0 } }),
      /train\.distributed\.syncBatchNorm: does not combine with quantize\.mode qat/,
    );
  });
});

test('--nproc 2 with syncBatchNorm: the weights and BatchNorm statistics of one process on the whole batch', async () => {
  await withTmp(async (dir) => {
    const file = recipe(dir);
    const two = graftChild(['train', file, '--nproc', '2', '--out', join(dir, 'two'), '--quiet']);
    assert.equal((await two.exit).code, 0, two.err());
    // one process, batch 8 = 2 x 4, in the same order (the recipe has a train.distributed section)
    const one = await graft('train', file, '--out', join(dir, 'one'), '--quiet', '--set', 'data.batchSize=8');
    assert.equal(one.code, 0, one.err);
    const a = floats(join(dir, 'one', 'model.safetensors'));
    const b = floats(join(dir, 'two', 'model.safetensors'));
    assert.ok(a.has('bn1.running_var'));
    // float rounding, grown through ResNet-18's 20 BatchNorms over two steps: at most ~5e-4 (the
    // first conv), ~1e-5 typically; per-process statistics instead are off by up to ~0.4, 1e-2 typically
    const worst = [...a].map(([k, v]) => {
      const other = b.get(k)!;
      let w = 0;
      for (let i = 0; i < v.length; i++) w = Math.max(w, Math.abs(v[i]! - other[i]!));
      assert.ok(w < 2e-3, `${k}: off by ${w}`);
      return w;
    });
    worst.sort((x, y) => x - y);
    const median = worst[worst.length >> 1]!;
    assert.ok(median < 1e-4, `half the tensors are off by ${median} or more`);
  });
});
