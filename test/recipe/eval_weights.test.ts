// `graft eval RUN --weights best|last` on runs whose model a recipe step changed: a prune phase with
// shrink: true (the checkpoints hold the full-width masked model, config.json the shrunk widths) and
// quantization-aware training (the checkpoints hold the QAT form). Each checkpoint evaluates as the
// model the run had when it was written: the epoch's own eval loss comes back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { run as evalCli } from '../../src/cli/eval.ts';
import * as models from '../../src/models/index.ts';
import * as quant from '../../src/quant/index.ts';
import { buildData, evaluateModel, evaluateRun, loadRecipe, recipeFrom, runRecipe } from '../../src/recipe/index.ts';
import { readCheckpoint, stateDictTensors } from '../../src/train/index.ts';
import { writeIdx } from '../reliability/_run.ts';
import { readJsonl, withTmp } from './_helpers.ts';

const data = (idx: string) => ({
  kind: 'idx',
  root: idx,
  classes: ['a', 'b', 'c', 'd'],
  imageSize: 16,
  batchSize: 4,
});
const train = { seed: 3, threads: 2, report: false, monitor: 'eval.loss' };

/** The eval loss of the epoch each checkpoint was written at (best: the lowest, monitor eval.loss). */
function epochLosses(out: string): { last: number; best: number; bestEpoch: number } {
  const epochs = readJsonl(join(out, 'metrics.jsonl')).filter((r) => r.type === 'epoch');
  const best = epochs.reduce((a, b) => (b.eval.loss < a.eval.loss ? b : a));
  return { last: epochs.at(-1).eval.loss, best: best.eval.loss, bestEpoch: best.epoch };
}

const modelKeys = (file: string): string[] => {
  const m = readCheckpoint(file).tree.model;
  return m instanceof Map ? [...m.keys()] : Object.keys(m);
};

const close = (a: number, b: number, what: string) =>
  assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('eval --weights last/best of a shrunk run: the masked full-width model of the checkpoint', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 16, test: 8 });
    const out = join(dir, 'run');
    const r = recipeFrom({
      name: 'shrink-eval',
      model: { name: 'resnet18' },
      data: data(idx),
      optimizer: { type: 'SGD', lr: 0.02, momentum: 0.9 },
      phases: [{ name: 'prune', epochs: 2, prune: { target: 0.5, method: 'ln-structured', shrink: true } }],
      train,
    });
    await runRecipe(r, { outDir: out });
    const keys = modelKeys(join(out, 'checkpoints', 'last.pth'));
    assert.ok(keys.includes('layer1.0.conv1.weight_orig'), 'the checkpoint holds the masked layout');
    const want = epochLosses(out);
    const last = await evaluateRun(out, { weights: 'last' });
    close(last.metrics.loss, want.last, 'last.pth');
    assert.equal(last.weights, 'last');
    const best = await evaluateRun(out, { weights: 'best' });
    close(best.metrics.loss, want.best, `best.pth (epoch ${want.bestEpoch})`);
    // the exported model is the shrunk one and computes what the last masked one did
    const model = await evaluateRun(out);
    close(model.metrics.loss, want.last, 'model.safetensors');
    // --fold-batchnorm folds the masked model too
    const folded = await evaluateRun(out, { weights: 'last', foldBatchNorm: true });
    close(folded.metrics.loss, want.last, 'last.pth folded');
  });
});

test('eval --weights last/best of a QAT run: the fake-quantized form the checkpoint holds', async () => {
  await withTmp(async (dir) => {
    const idx = writeIdx(join(dir, 'idx'), { train: 16, test: 8 });
    const out = join(dir, 'run');
    const r = recipeFrom({
      name: 'qat-eval',
      model: { name: 'resnet18' },
      data: data(idx),
      optimizer: { type: 'SGD', lr: 0.02, momentum: 0.9 },
      phases: [
        { name: 'float', epochs: 1 },
        // observers off in the last epoch: evaluating leaves the scales as the checkpoint holds them
        { name: 'qat', epochs: 2, qat: { freezeBnAfter: 1, observersOffAfter: 1 } },
      ],
      train,
    });
    await runRecipe(r, { outDir: out });
    const keys = modelKeys(join(out, 'checkpoints', 'last.pth'));
    assert.ok(
      keys.some((k) => k.includes('weight_fake_quant')),
      'the checkpoint holds the QAT form',
    );
    const want = epochLosses(out);
    const last = await evaluateRun(out, { weights: 'last' });
    close(last.metrics.loss, want.last, 'last.pth');
    // best.pth is from the QAT epoch whose observers still ran (the epoch's own eval moved its
    // scales): it evaluates as the QAT form built by hand from it, observers off
    assert.equal(want.bestEpoch, 1);
    const best = await evaluateRun(out, { weights: 'best' });
    const file = join(out, 'checkpoints', 'best.pth');
    const form = quant.prepareQat(models.create('resnet18', { numClasses: 4 }), { backend: 'fbgemm' });
    form.loadStateDict(stateDictTensors(readCheckpoint(file).raw.get('model'), file));
    quant.enableObserver(form, false);
    const loaded = loadRecipe(join(out, 'recipe.yaml'));
    const built = buildData(loaded.recipe, { seed: 3, meta: models.getMeta('resnet18') });
    const byHand = await evaluateModel(form, built.loader('val'));
    await built.close();
    assert.equal(best.metrics.loss, byHand.loss, 'best.pth');
    assert.notEqual(best.metrics.loss, last.metrics.loss);
    // folding BatchNorm does not apply to the QAT form: refused with what to use instead
    await assert.rejects(
      evaluateRun(out, { weights: 'last', foldBatchNorm: true }),
      (e: Error & { code?: string; hint?: string }) =>
        /quantization-aware/.test(e.message) && /--weights int8/.test(e.hint ?? ''),
    );
    // the CLI path: exit code 0 with --weights last
    const log = console.log;
    let text = '';
    console.log = (s: string) => {
      text += s;
    };
    try {
      assert.equal(await evalCli([out, '--weights', 'last', '--json']), 0);
    } finally {
      console.log = log;
    }
    close(JSON.parse(text).metrics.loss, want.last, 'graft eval --weights last');
  });
});
