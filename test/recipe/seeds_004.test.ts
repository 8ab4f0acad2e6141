// The fine-tuning recipes of the small CIFAR net (after its base recipe) and of BERT's top layer,
// and runRecipe's progress: which parameters train, what loads, the schedule.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../../src/io/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import { buildRun, loadRecipe, type RunProgress, runRecipe } from '../../src/recipe/index.ts';
import { cifarBase, quick, readJsonl, recipe, textData, tinyBertCheckpoint, withTmp } from './_helpers.ts';
import { close, probeRun, raw, same } from './_probe.ts';

test('seed 004: the base recipe trains the CIFAR net; the fine-tuning recipes start from its weights', async () => {
  await withTmp(async (dir) => {
    // the order the headers give: the base first, then a fine-tuning recipe on its model.safetensors
    const base = join(dir, 'base');
    const b = await probeRun(recipe('004_cifar_base.yaml'), quick(1), base);
    assert.equal(b.epochs[0]!.trainable.length, 10, 'trained from scratch: everything');
    assert.equal(b.pieces.loadReport, undefined, 'random initialisation');
    const weights = join(base, 'model.safetensors');
    const conv1 = raw(readSafetensors(weights).tensors.get('conv1.weight')!);
    const tuned = await probeRun(
      recipe('004_cifar_last_layer.yaml'),
      [...quick(1), `model.pretrained.checkpoint=${weights}`],
      join(dir, 'last'),
      {
        before(p) {
          assert.equal(p.loadReport!.loaded.length, 10, 'every key of the base loads');
          assert.ok(same(raw(tensorToRaw(p.model.getParameter('conv1.weight')!)), conv1), 'conv1 from the base');
        },
      },
    );
    assert.deepEqual(tuned.epochs[0]!.trainable, ['fc3.weight', 'fc3.bias']);
  });
});

test('seed 004: CIFAR net fine-tuned at the last layer, the last 3 layers, all, or all but conv1 and fc2 frozen', async () => {
  await withTmp(async (dir) => {
    const base = cifarBase(dir);
    const trainable = async (file: string) =>
      (await probeRun(recipe(file), [...quick(1), base], join(dir, file))).epochs[0]!.trainable;
    assert.deepEqual(await trainable('004_cifar_last_layer.yaml'), ['fc3.weight', 'fc3.bias']);
    assert.deepEqual(await trainable('004_cifar_last_k_layers.yaml'), [
      'fc1.weight',
      'fc1.bias',
      'fc2.weight',
      'fc2.bias',
      'fc3.weight',
      'fc3.bias',
    ]);
    assert.equal((await trainable('004_cifar_all_layers.yaml')).length, 10);
    // `if not 'conv' in name and not 'fc' in name or ('conv1' in name or 'fc2' in name): continue`
    assert.deepEqual(await trainable('004_cifar_conv1_fc2.yaml'), [
      'conv1.weight',
      'conv1.bias',
      'fc2.weight',
      'fc2.bias',
    ]);
    // without the base's weights the fine-tuning recipes do not start from random weights silently
    assert.throws(
      () => buildRun(loadRecipe(recipe('004_cifar_all_layers.yaml'), { set: quick(1) })),
      /runs\/cifar-base\/model\.safetensors: no such file/,
    );
  });
});

test('seed 004: BERT with only the last encoder layer and the classifier trainable, AdamW 2e-5, linear warm-up, clip 1.0', async () => {
  await withTmp(async (dir) => {
    const text = textData(join(dir, 'text'));
    const { config, ckpt } = tinyBertCheckpoint(dir, text.vocabSize);
    const { epochs, steps } = await probeRun(
      recipe('004_bert_last_layer.yaml'),
      [
        ...quick(1, { train: 12, val: 6 }),
        'phases[0].epochs=2',
        `model.options={config: ${JSON.stringify(config)}}`,
        `model.pretrained.checkpoint=${ckpt}`,
        `data.train=${text.train}`,
        `data.val=${text.val}`,
        `data.tokenizer=${text.vocab}`,
        'train.logEvery=1',
      ],
      join(dir, 'run'),
      {
        before(p) {
          assert.deepEqual(p.loadReport!.missing, ['classifier.weight', 'classifier.bias']);
          assert.equal(p.runner.optimizer.constructor.name, 'AdamW');
          assert.equal(p.runner.optimizer.paramGroups[0]!.eps, 1e-8);
          assert.equal(p.runner.optimizer.paramGroups[0]!.weight_decay, 0, "transformers' AdamW: no decay");
          assert.equal(p.runner.schedulerInterval, 'step');
        },
      },
    );
    // encoder layers 0..N-2 frozen, everything else trains: the last layer, the classifier, and the
    // embeddings and pooler the original never freezes
    const tr = epochs[0]!.trainable;
    assert.ok(!tr.some((n) => n.startsWith('bert.encoder.layer.0.')), 'layer 0 of 2 frozen');
    for (const p of ['bert.encoder.layer.1.', 'bert.embeddings.', 'bert.pooler.', 'classifier.'])
      assert.ok(
        tr.some((n) => n.startsWith(p)),
        `${p} trains`,
      );
    assert.equal(steps, 6, '12 texts in batches of 4, 2 epochs');
    // linear decay from 2e-5 to 0 over the 6 steps (no warm-up): 2e-5 at the start, 1e-5 after 3
    assert.ok(close(epochs[0]!.lrs[0]!, 2e-5));
    assert.ok(close(epochs[1]!.lrs[0]!, 1e-5), `${epochs[1]!.lrs}`);
    const recs = readJsonl(join(dir, 'run', 'metrics.jsonl')).filter((r) => r.type === 'step');
    assert.equal(recs.length, 6);
    assert.ok(
      recs.every((r) => typeof r.gradNorm === 'number'),
      'clip_grad_norm_ at 1.0 records the norm',
    );
  });
});

test('runRecipe reports progress: phase notes, steps and epochs', async () => {
  await withTmp(async (dir) => {
    const seen: RunProgress[] = [];
    const set = [...quick(1), cifarBase(dir), 'phases[1]={name: all, epochs: 1, freeze: none}'];
    const r = await runRecipe(loadRecipe(recipe('004_cifar_last_layer.yaml'), { set }), {
      outDir: dir,
      onProgress: (p) => seen.push(p),
    });
    assert.equal(r.name, 'cifar-last-layer');
    assert.deepEqual(
      seen.filter((p) => p.kind === 'step').map((p) => p.step),
      [1, 2, 3, 4],
    );
    const note = seen.find((p) => p.kind === 'note')!;
    assert.deepEqual([note.text, note.epoch, note.phase], ["phase 1 'all' starts", 1, 'all']);
    const epoch = seen.find((p) => p.kind === 'epoch')!;
    assert.equal(epoch.phase, 'last layer');
    assert.equal(typeof epoch.metrics!['eval.accuracy'], 'number');
    assert.ok(existsSync(join(dir, 'recipe.yaml')));
  });
});
