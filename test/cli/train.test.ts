// `graft train` writes a run folder; `graft eval` and `graft predict` use it; `--resume` continues
// it exactly; an exported model is a checkpoint for the next recipe; a text model predicts texts.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { FASHION_MNIST_CLASSES } from '../../src/data/index.ts';
import {
  capture,
  cifarBase,
  quick,
  readJsonl,
  recipe,
  textData,
  tinyBert,
  withTmp,
  writeImage,
} from '../recipe/_helpers.ts';

const graft = (...args: string[]) => capture(() => main(args));
const sets = (xs: string[]) => xs.flatMap((x) => ['--set', x]);
const epochs = (dir: string) => readJsonl(join(dir, 'metrics.jsonl')).filter((r) => r.type === 'epoch');

test('graft train, then graft eval and graft predict on the run folder', async () => {
  await withTmp(async (dir) => {
    const run = join(dir, 'run');
    const t = await graft(
      'train',
      recipe('004_cifar_last_k_layers.yaml'),
      ...sets([...quick(1, { train: 16, val: 8 }), cifarBase(dir), 'phases[0].epochs=2', 'train.report=true']),
      '--out',
      run,
      '--quiet',
    );
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /^trained cifar-last-k-layers: 2 epochs, 8 steps, accuracy \d+\.\d\d%; best eval\.accuracy/);
    for (const f of [
      'recipe.yaml',
      'metrics.jsonl',
      'report.html',
      'model.safetensors',
      'config.json',
      'checkpoints/last.pth',
    ])
      assert.ok(existsSync(join(run, f)), f);
    const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8'));
    assert.equal(cfg.architecture, 'cifar_net');
    assert.deepEqual(cfg.classNames, FASHION_MNIST_CLASSES);
    assert.deepEqual(cfg.preprocessing.inputSize, [3, 32, 32]);

    // eval of the run reproduces the last epoch's validation
    const last = epochs(run).at(-1)!;
    const e = await graft('eval', run, '--json');
    assert.equal(e.code, 0, e.err);
    const j = JSON.parse(e.out);
    assert.equal(j.source, 'run');
    assert.equal(j.metrics.items, 8);
    assert.ok(Math.abs(j.metrics.loss - last.eval.loss) < 1e-6, `${j.metrics.loss} vs ${last.eval.loss}`);
    assert.equal(j.metrics.accuracy, last.eval.accuracy);
    assert.equal(j.perClass.length, 10);
    assert.equal(j.perClass[9].class, 'Ankle boot');
    const text = await graft('eval', run, '--split', 'test', '--limit', '12');
    assert.equal(text.code, 0);
    assert.match(text.out, /^split test \(12 items\), trained model: /);
    for (const k of ['loss', 'accuracy', 'top-5', 'macro-F1', 'per class', 'Ankle boot'])
      assert.ok(text.out.includes(k), k);
    const best = await graft('eval', run, '--weights', 'best');
    assert.equal(best.code, 0, best.err);
    // the recipe itself: its model before training, as a baseline
    const base = await graft(
      'eval',
      recipe('004_cifar_last_k_layers.yaml'),
      '--limit',
      '8',
      '--set',
      'data.subset.val=8',
      '--set',
      'model.pretrained=null',
    );
    assert.equal(base.code, 0, base.err);
    assert.match(base.out, /untrained model as the recipe builds it: initialisation/);

    // predict: top-k with class names, preprocessing from config.json (any size, RGB or not)
    const img1 = join(dir, 'a.png');
    const img2 = join(dir, 'b.png');
    await writeImage(img1, 0, 1, 28, 28);
    await writeImage(img2, 2, 3, 40, 30);
    const p = await graft('predict', run, img1, img2, '--top-k', '3');
    assert.equal(p.code, 0, p.err);
    const lines = p.out.split('\n');
    assert.equal(lines.length, 8);
    assert.equal(lines[0], img1);
    assert.match(lines[1]!, /^ {2}1\. \S.*\d+\.\d\d% {2}\(class \d\)$/);
    const pj = JSON.parse((await graft('predict', run, img1, '--json')).out);
    assert.equal(pj[0].top.length, 5);
    assert.ok(FASHION_MNIST_CLASSES.includes(pj[0].top[0].label));
    const sum = pj[0].top.reduce((a: number, x: { prob: number }) => a + x.prob, 0);
    assert.ok(sum > 0 && sum <= 1 + 1e-6);
  });
});

test('graft train --resume continues a run exactly where it stopped', async () => {
  await withTmp(async (dir) => {
    const base = [...quick(1, { train: 16, val: 8 }), cifarBase(dir), 'train.seed=7'];
    const full = join(dir, 'full');
    const cut = join(dir, 'cut');
    const f = await graft(
      'train',
      recipe('004_cifar_all_layers.yaml'),
      ...sets([...base, 'phases[0].epochs=2']),
      '--out',
      full,
      '--quiet',
    );
    assert.equal(f.code, 0, f.err);
    const c1 = await graft('train', recipe('004_cifar_all_layers.yaml'), ...sets(base), '--out', cut, '--quiet');
    assert.equal(c1.code, 0, c1.err);
    // the stopped run goes on with its own recipe.yaml, one more epoch
    const c2 = await graft('train', '--resume', cut, ...sets(['phases[0].epochs=2']), '--quiet');
    assert.equal(c2.code, 0, c2.err);
    const a = epochs(full);
    const b = epochs(cut);
    assert.equal(b.length, 2);
    assert.equal(b[1].train.loss, a[1].train.loss, 'the same losses as an uninterrupted run');
    assert.equal(b[1].eval.loss, a[1].eval.loss);
    assert.ok(readJsonl(join(cut, 'metrics.jsonl')).some((r) => r.type === 'run' && r.event === 'resume'));
  });
});

test("an exported model is the next recipe's checkpoint; a text model predicts texts", async () => {
  await withTmp(async (dir) => {
    const first = join(dir, 'first');
    assert.equal(
      (
        await graft(
          'train',
          recipe('004_cifar_last_layer.yaml'),
          ...sets([...quick(1), cifarBase(dir)]),
          '--out',
          first,
          '--quiet',
        )
      ).code,
      0,
    );
    const plan = await graft(
      'plan',
      recipe('004_cifar_all_layers.yaml'),
      ...sets([`model.pretrained.checkpoint=${join(first, 'model.safetensors')}`]),
    );
    assert.equal(plan.code, 0, plan.err);
    assert.ok(plan.out.includes('loaded 10 of 10 model keys'));

    const text = textData(join(dir, 'text'));
    const bert = join(dir, 'bert');
    const t = await graft(
      'train',
      recipe('004_bert_last_layer.yaml'),
      ...sets([
        ...quick(1, { train: 12, val: 6 }),
        'model.pretrained=null',
        `model.options={config: ${JSON.stringify(tinyBert(text.vocabSize))}}`,
        `data.train=${text.train}`,
        `data.val=${text.val}`,
        `data.tokenizer=${text.vocab}`,
      ]),
      '--out',
      bert,
      '--quiet',
    );
    assert.equal(t.code, 0, t.err);
    const cfg = JSON.parse(readFileSync(join(bert, 'config.json'), 'utf8'));
    assert.deepEqual(cfg.classNames, ['neg', 'pos']);
    assert.equal(cfg.preprocessing.kind, 'text');
    const p = await graft('predict', bert, 'the movie was great', 'awful film', '--json');
    assert.equal(p.code, 0, p.err);
    const out = JSON.parse(p.out);
    assert.deepEqual(
      out.map((x: { input: string }) => x.input),
      ['the movie was great', 'awful film'],
    );
    assert.deepEqual(out[0].top.map((x: { label: string }) => x.label).sort(), ['neg', 'pos']);
  });
});
