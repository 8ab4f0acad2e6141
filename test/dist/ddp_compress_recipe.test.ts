// Compression under data parallelism, `graft train RECIPE --nproc 2`:
// - quantize.mode qat prepares the model with fake quantization in every rank (after DataParallel
//   wrapped it), trains, and rank 0 alone converts, measures and saves the int8 model;
// - a pruning phase re-parametrises the weights (weight_orig * mask) while DataParallel holds them:
//   the gradients must still be averaged, so the two ranks end with the weights one process gets
//   from the same batches of 16.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataLoader, DistributedSampler } from '../../src/data/index.ts';
import { readSafetensors } from '../../src/io/index.ts';
import { compressCallbacks } from '../../src/recipe/compress.ts';
import { buildRun, loadRecipe } from '../../src/recipe/index.ts';
import { setNumThreads } from '../../src/tensor/index.ts';
import { fit } from '../../src/train/index.ts';
import { graftChild, readJsonl, withTmp, writeIdx, writeRecipe } from '../reliability/_run.ts';

test('--nproc 2 with quantize.mode qat: fake-quantized training in both ranks, one int8 model measured and saved', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 32, test: 8 });
    const recipe = writeRecipe(dir, idx, { epochs: 2, extra: 'quantize: { mode: qat }' });
    const run = join(dir, 'run');
    const c = graftChild(['train', recipe, '--nproc', '2', '--out', run]);
    const { code } = await c.exit;
    assert.equal(code, 0, c.err());
    assert.match(c.err(), /^\[0\] data parallel: 2 processes/m);
    assert.match(c.err(), /^\[0\] quantization-aware training starts/m);
    const recs = readJsonl(join(run, 'metrics.jsonl'));
    assert.deepEqual(
      recs.filter((r) => r.type === 'epoch').map((e) => e.train.items),
      [32, 32],
    );
    const q = recs.filter((r) => r.type === 'quantize');
    assert.equal(q.length, 1, 'rank 0 alone measures the int8 model');
    assert.equal(q[0].mode, 'qat');
    assert.ok(q[0].float.bytes / q[0].int8.bytes > 3, `size ratio ${q[0].float.bytes / q[0].int8.bytes}`);
    assert.ok(existsSync(join(run, 'model.int8.safetensors')));
    // the float export carries the architecture's own names, no fake-quant state
    const keys = [...readSafetensors(join(run, 'model.safetensors')).tensors.keys()];
    assert.ok(keys.length > 0);
    assert.ok(!keys.some((k) => k.includes('fake_quant') || k.includes('activation_post_process')), keys.join(' '));
  });
});

test('--nproc 2 with a pruning phase: the pruned weights of one process over the same batches', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 32, test: 8 });
    const recipe = writeRecipe(dir, idx, { epochs: 2 });
    const prune = 'phases: [{ name: all, epochs: 2, prune: { target: 0.5, method: l1 } }]';
    writeFileSync(recipe, readFileSync(recipe, 'utf8').replace(/^phases: .*$/m, prune));
    const run = join(dir, 'run');
    const c = graftChild(['train', recipe, '--nproc', '2', '--out', run]);
    const { code } = await c.exit;
    assert.equal(code, 0, c.err());
    assert.match(c.err(), /^\[0\] pruning round 2\/2: target sparsity 50\.0%$/m);

    setNumThreads(1);
    const p = buildRun(loadRecipe(recipe, { set: ['data.batchSize=16'] }), { outDir: join(dir, 'one') });
    try {
      const sampler = new DistributedSampler(32, { worldSize: 1, rank: 0, seed: 3 });
      const train = new DataLoader(p.train.dataset, { batchSize: 16, sampler });
      // the pruning rounds a recipe run adds to fit() (they log to the run folder's metrics)
      mkdirSync(join(dir, 'one'), { recursive: true });
      const prune = compressCallbacks(p.recipe, p.model, { outDir: join(dir, 'one'), train, valid: undefined });
      const callbacks = [...(p.fit.callbacks ?? []), ...prune];
      await fit({ ...p.fit, train, valid: undefined, outDir: undefined, progress: false, callbacks });
      const saved = readSafetensors(join(run, 'model.safetensors')).tensors;
      let zeros = 0;
      for (const [k, t] of p.model.stateDict()) {
        const mine = t.data() as Float32Array;
        const raw = saved.get(k);
        assert.ok(raw, `${k} missing from the data-parallel run's weights`);
        const theirs = new Float32Array(
          raw.data.buffer.slice(raw.data.byteOffset, raw.data.byteOffset + raw.data.byteLength),
        );
        assert.equal(theirs.length, mine.length, k);
        const worst = Math.max(...Array.from(mine, (v, i) => Math.abs(v - theirs[i]!)));
        assert.ok(worst < 1e-5, `${k}: off by ${worst}`);
        zeros += theirs.filter((v) => v === 0).length;
      }
      assert.ok(zeros > 0, 'the pruned weights hold zeros');
    } finally {
      await p.dispose();
    }
  });
});
