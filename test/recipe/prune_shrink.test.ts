// Channel shrinking as a recipe step: a ResNet pruned by whole channels (ln-structured) with
// shrink: true ends with its dead channels removed. The smaller model computes what the masked one
// did (to float rounding), is smaller, is what graft eval / predict load, and quantizes to int8.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import * as models from '../../src/models/index.ts';
import * as prune from '../../src/prune/index.ts';
import {
  compressCallbacks,
  evaluateRun,
  planRecipe,
  predict,
  prunePhases,
  recipeFrom,
  runRecipe,
} from '../../src/recipe/index.ts';
import { rebuildFromConfig } from '../../src/recipe/model.ts';
import { compressSection } from '../../src/report/index.ts';
import { manualSeed, noGrad, randn, type Tensor } from '../../src/tensor/index.ts';
import { loadModel, readCheckpoint, stateDictTensors } from '../../src/train/index.ts';
import { writeIdx } from '../reliability/_run.ts';
import { readJsonl, withTmp, writeImage } from './_helpers.ts';

const tiny = (idx: string, prune: Record<string, unknown> = {}) =>
  recipeFrom({
    name: 'shrink',
    model: { name: 'resnet18' },
    data: { kind: 'idx', root: idx, classes: ['a', 'b', 'c', 'd'], imageSize: 16, batchSize: 4 },
    optimizer: { type: 'SGD', lr: 0.02, momentum: 0.9 },
    phases: [
      { name: 'train', epochs: 1 },
      { name: 'prune', epochs: 2, prune: { target: 0.5, method: 'ln-structured', shrink: true, ...prune } },
    ],
    quantize: { mode: 'static', observer: 'minmax', calibrationBatches: 1 },
    train: { seed: 5, threads: 2, report: false, monitor: 'train.loss' },
  });

const forward = (m: { call(x: Tensor): Tensor }, x: Tensor): Float32Array =>
  noGrad(() => Float32Array.from(m.call(x).data() as Float32Array));

test('prune.shrink: the pruned channels are removed, the outputs stay, eval / predict / int8 use the small model', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 16, test: 8 });
    const out = join(dir, 'run');
    await runRecipe(tiny(idx), { outDir: out });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    const s = recs.find((r) => r.type === 'shrink');
    assert.equal(s.layers.length, 8, "each BasicBlock's conv1");
    for (const l of s.layers) assert.equal(l.after, l.before / 2, `${l.conv}: half its channels left`);
    assert.ok(s.after.parameters < s.before.parameters && s.after.bytes < s.before.bytes);
    assert.ok(s.before.msPerBatch > 0 && s.after.msPerBatch > 0);
    assert.match(compressSection(recs), /Channels removed \(8 convs\)[\s\S]*masked[\s\S]*shrunk/);

    // the masked model (the last checkpoint, PyTorch's pruning layout) against the exported shrunk one
    const masked = models.create('resnet18', { numClasses: 4 });
    const file = join(out, 'checkpoints', 'last.pth');
    const sd = stateDictTensors(readCheckpoint(file).raw.get('model'), file);
    for (const [path, m] of masked.namedModules())
      for (const [n] of [...m.namedParameters({ recurse: false })])
        if (sd.has(`${path ? `${path}.` : ''}${n}_orig`)) prune.identity(m, n);
    masked.loadStateDict(sd);
    assert.ok(sd.has('layer1.0.bn1.weight_mask'), 'the BatchNorm after a shrinking conv is pruned with it');
    const { model: small } = loadModel(out, { build: rebuildFromConfig });
    assert.equal((small.getSubmodule('layer1.0.conv1') as unknown as { outChannels: number }).outChannels, 32);
    assert.ok(small.numParameters() < models.create('resnet18', { numClasses: 4 }).numParameters());
    manualSeed(0);
    const x = randn([3, 3, 16, 16]);
    const a = forward(masked.eval(), x);
    const b = forward(small.eval(), x);
    const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
    const scale = Math.max(1, ...a.map(Math.abs));
    assert.ok(diff < 1e-5 * scale, `masked vs shrunk logits differ by ${diff} (largest ${scale})`);

    // graft eval and predict load the shrunk model; the int8 model is the shrunk one quantized
    const ev = await evaluateRun(out);
    const last = recs.filter((r) => r.type === 'epoch').at(-1);
    assert.ok(Math.abs(ev.metrics.loss - last.eval.loss) < 1e-4, `eval loss ${ev.metrics.loss} vs ${last.eval.loss}`);
    const q = recs.find((r) => r.type === 'quantize');
    assert.equal(q.float.bytes, s.after.bytes, 'quantized after shrinking');
    const int8 = await evaluateRun(out, { weights: 'int8' });
    assert.equal(int8.metrics.loss, q.int8.loss);
    const img = join(dir, 'x.png');
    await writeImage(img, 1, 0, 16, 16);
    const [p] = await predict(out, [img], { topK: 2 });
    assert.equal(p!.top.length, 2);
  });
});

test('prune.shrink refusals: not by channel, nothing shrinkable', () => {
  const idx = '/nonexistent';
  assert.throws(
    () => prunePhases(tiny(idx, { method: 'l1' }).recipe),
    /phases\[1\]\.prune\.shrink: only whole channels/,
  );
  const cifar = { ...tiny(idx).recipe, model: { name: 'cifar_net' } };
  assert.throws(
    () =>
      compressCallbacks(cifar, models.create('cifar_net'), {
        outDir: idx,
        train: undefined as never,
        valid: undefined,
      }),
    /phases\[1\]\.prune\.shrink: none of the pruned convs can shrink/,
  );
  const p = planRecipe(tiny(idx));
  assert.match(p.text, /pruning: phase 1 'prune' \(epochs 1-2\), 2 rounds to 50\.0% sparsity \(ln-structured\)/);
});
