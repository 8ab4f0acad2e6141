// What a resume may change, checked before anything in the run folder changes: a hyper-parameter
// the restored state would ignore (optimizer.lr) is refused by name; a schedule that cannot be
// extended (OneCycleLR) says so; data changed underneath is refused with what changed; allowed
// changes (the last phase's epochs, logging) are applied and recorded. A run whose recipe.yaml is
// gone resumes from the recipe inside its checkpoint. Every run starts with its load summary.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import { graft, snapshot, stepLosses, withTmp, writeIdx, writeRecipe } from './_run.ts';

test('resume refuses changes the run would ignore, and leaves the folder untouched', async () => {
  await withTmp(async (dir) => {
    const idx = join(dir, 'idx');
    const recipe = writeRecipe(dir, writeIdx(idx), { epochs: 1 });
    const run = join(dir, 'run');
    assert.equal((await graft('train', recipe, '--out', run, '--quiet')).code, 0);
    const before = snapshot(run);

    const lr = await graft('train', '--resume', run, '--set', 'optimizer.lr=0.01', '--quiet');
    assert.equal(lr.code, 1);
    assert.match(lr.err, /optimizer\.lr: cannot change on resume \(trained with 0\.02, now 0\.01\)/);
    assert.deepEqual(snapshot(run), before);

    // the same data relabelled underneath (same count, same classes, same per-class counts)
    writeIdx(idx, { relabel: true });
    const data = await graft('train', '--resume', run, '--set', 'phases[0].epochs=2', '--quiet');
    assert.equal(data.code, 1);
    assert.match(data.err, /was trained on other data: train: the same count, but other samples or labels/);
    assert.deepEqual(snapshot(run), before);
    writeIdx(idx);

    // allowed: the last phase grows (no schedule sized by it), logging changes; recorded in recipe.yaml
    const ok = await graft('train', '--resume', run, '--set', 'phases[0].epochs=2', '--set', 'train.logEvery=2');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.err, /resuming .*last\.pth: epoch 2, batch 0, step 4/);
    assert.match(ok.err, /changed on resume: phases\[0\]\.epochs, train\.logEvery/);
    const saved = YAML.parse(readFileSync(join(run, 'recipe.yaml'), 'utf8'));
    assert.equal(saved.phases[0].epochs, 2);
    assert.equal(saved.train.logEvery, 2);

    // recipe.yaml lost: the checkpoint's copy is the recipe
    rmSync(join(run, 'recipe.yaml'));
    const noYaml = await graft('train', '--resume', run, '--set', 'phases[0].epochs=3', '--quiet');
    assert.equal(noYaml.code, 0, noYaml.err);
    assert.equal(YAML.parse(readFileSync(join(run, 'recipe.yaml'), 'utf8')).phases[0].epochs, 3);
  });
});

test('a finished OneCycleLR run cannot be extended: said before anything changes; plain --resume still works', async () => {
  await withTmp(async (dir) => {
    const recipe = writeRecipe(dir, writeIdx(join(dir, 'idx')), {
      epochs: 1,
      extra: 'scheduler: { type: OneCycleLR, interval: step }',
    });
    const run = join(dir, 'run');
    const first = await graft('train', recipe, '--out', run, '--quiet');
    assert.equal(first.code, 0, first.err);
    const before = snapshot(run);
    const more = await graft('train', '--resume', run, '--set', 'phases[0].epochs=2', '--quiet');
    assert.equal(more.code, 1);
    assert.match(
      more.err,
      /phases\[0\]\.epochs: cannot extend this run: its OneCycleLR schedule was sized for 1 epoch when it started/,
    );
    assert.deepEqual(snapshot(run), before, 'the failed resume changed nothing');
    const plain = await graft('train', '--resume', run, '--quiet');
    assert.equal(plain.code, 0, plain.err);
    assert.equal(stepLosses(run).length, 4);
  });
});

test('every run starts with the load summary; under half the parameters loaded is a warning; load-report.json', async () => {
  await withTmp(async (dir) => {
    const recipe = writeRecipe(dir, writeIdx(join(dir, 'idx')), { epochs: 1 });
    const base = join(dir, 'base');
    assert.equal((await graft('train', recipe, '--out', base, '--quiet')).code, 0);
    const weights = join(base, 'model.safetensors');

    const full = join(dir, 'full');
    const f = await graft('train', recipe, '--out', full, '--set', `model.pretrained={checkpoint: ${weights}}`);
    assert.equal(f.code, 0, f.err);
    assert.match(f.err, /weights: .*model\.safetensors\n {2}loaded 10 of 10 model keys/);
    assert.doesNotMatch(f.err, /WARNING/);
    const part = join(dir, 'part');
    const p = await graft(
      'train',
      recipe,
      '--out',
      part,
      '--quiet',
      '--set',
      `model.pretrained={checkpoint: ${weights}, include: [conv1.weight, conv1.bias]}`,
    );
    assert.equal(p.code, 0, p.err);
    assert.match(p.err, /WARNING: only 0\.\d% of the model's parameters came from the checkpoint \(2 of 10 keys\)/);
    const report = JSON.parse(readFileSync(join(part, 'load-report.json'), 'utf8'));
    assert.equal(report.counts.loaded, 2);
    assert.ok(report.parameters.loaded < report.parameters.total / 2);
    assert.ok(!existsSync(join(base, 'load-report.json')), 'no pretrained weights: no load report');
  });
});
