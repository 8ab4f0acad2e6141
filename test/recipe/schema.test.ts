// The recipe schema: errors name the path and what was expected, unknown keys suggest the near
// one, YAML errors name the file and line; extends merges deeply with paths relative to each
// file; --set overrides parse YAML values at key paths; docs/recipes.md matches the schema.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { RecipeError } from '../../src/errors.ts';
import { loadRecipe, parseKeyPath, recipeFrom, recipeReference } from '../../src/recipe/index.ts';
import { ROOT, withTmp } from './_helpers.ts';

const BASE = {
  model: { name: 'resnet18', numClasses: 4 },
  data: { kind: 'fashion-mnist' },
  optimizer: { type: 'SGD', lr: 0.01, momentum: 0.9 },
  phases: [
    { epochs: 1, freeze: { freeze: '!fc' } },
    { epochs: 2, freeze: 'none' },
  ],
};

function errorOf(set: string[], raw: object = BASE): RecipeError {
  try {
    recipeFrom(raw, { set });
  } catch (e) {
    assert.ok(e instanceof RecipeError, `a RecipeError, got ${(e as Error).message}`);
    return e;
  }
  assert.fail(`no error for ${set.join(' ')}`);
}

test('a value of the wrong type names its path, what was expected and what was given', () => {
  const e = errorOf(['optimizer.lr=fast']);
  assert.equal(e.message, 'optimizer.lr: expected a positive number, got "fast"');
  assert.equal(e.path, 'optimizer.lr');
  assert.equal(e.code, 'GRAFT_RECIPE');
  assert.equal(errorOf(['optimizer.lr=-1']).message, 'optimizer.lr: expected a positive number, got -1');
  assert.equal(errorOf(['phases[1].epochs=1.5']).message, 'phases[1].epochs: expected an integer >= 1, got 1.5');
  assert.equal(
    errorOf(['phases[0].freeze.bn=trian']).message,
    "phases[0].freeze.bn: expected one of 'train', 'freeze-stats', 'freeze-affine', 'freeze-all', got \"trian\"",
  );
  assert.equal(errorOf(['data={root: x}']).path, 'data.kind');
  assert.match(errorOf(['data={root: x}']).message, /^data\.kind: missing \(expected one of 'image-folder'/);
  assert.equal(errorOf(['phases=[]']).message, 'phases: expected at least one phase, got []');
  assert.match(errorOf(['phases[0].freeze=all']).message, /^phases\[0\]\.freeze: expected 'none' or a freeze spec/);
});

test('unknown keys are errors with a did-you-mean', () => {
  assert.equal(errorOf(['trian.seed=1']).message, "trian: unknown key (hint: did you mean 'train'?)");
  assert.equal(errorOf(['train.clipp=1']).message, "train.clipp: unknown key (hint: did you mean 'clip'?)");
  assert.equal(
    errorOf(['phases[0].freeze.bnn=train']).message,
    "phases[0].freeze.bnn: unknown key (hint: did you mean 'bn'?)",
  );
  assert.equal(
    errorOf(['optimizer.momentun=0.9']).message,
    "optimizer.momentun: SGD has no hyper-parameter 'momentun' (hint: did you mean 'momentum'?)",
  );
  assert.equal(
    errorOf(['optimizer.type=Adamm']).message.split(' (hint')[0],
    'optimizer.type: expected one of SGD, Adam, AdamW, RMSprop, got "Adamm"',
  );
  assert.equal(
    errorOf(['model.name=resnet19']).message,
    'model.name: unknown model "resnet19" (hint: did you mean \'resnet18\'?)',
  );
  assert.match(
    errorOf(['scheduler={type: StepLR, step_siz: 2}']).message,
    /^scheduler\.step_siz: unknown key for StepLR .*did you mean 'step_size'/,
  );
  assert.match(
    errorOf(['scheduler={type: StepLr, step_size: 2}']).message,
    /^scheduler\.type: unknown scheduler 'StepLr'.*did you mean 'StepLR'/,
  );
  assert.equal(
    errorOf(['scheduler={type: StepLR}']).message.split(' (hint')[0],
    "scheduler.step_size: StepLR requires 'step_size'",
  );
  assert.match(
    errorOf(['phases[1].scheduler={type: MultiStepLR, milestone: [2]}']).message,
    /^phases\[1\]\.scheduler\.milestone: unknown key for MultiStepLR.*did you mean 'milestones'/,
  );
});

test('semantic checks name the recipe path', () => {
  assert.equal(errorOf(['phases[0].steps=3']).message, 'phases[0]: phase 0 needs exactly one of epochs / steps');
  assert.equal(
    errorOf(['model.replace={fc: [Flatten, {Linaer: [512, 4]}]}']).message,
    "model.replace.fc[1]: unknown layer 'Linaer' (hint: did you mean 'Linear'?)",
  );
  assert.match(errorOf(['model.replace={fc: {Linear: [512]}}']).message, /^model\.replace\.fc\.Linear\.out: missing/);
  assert.equal(
    errorOf(['data.transforms={train: [{resize: 32}, {normalise: model}]}']).message,
    "data.transforms.train[1]: unknown transform 'normalise' (hint: did you mean 'normalize'?)",
  );
  assert.equal(
    errorOf(['data.transforms={eval: [{normalize: model}, {resize: 32}]}']).message,
    'data.transforms.eval[0]: normalize must be the last transform (it runs after ToTensor)',
  );
  assert.match(errorOf(['data.kind=image-folder']).message, /^data\.root: missing/);
  assert.match(errorOf(['data.kind=text', 'data.train=x.csv']).message, /^data\.tokenizer: missing/);
  assert.equal(
    errorOf(['groups=[{name: head, match: fc}]', 'phases[1].lr={set: {haed: 0.1}}']).message,
    "phases[1].lr.set.haed: no parameter group 'haed' (hint: did you mean 'head'?)",
  );
  assert.match(errorOf(['model.pretrained=offline']).message, /^model\.pretrained: no offline weights for 'resnet18'/);
  assert.match(errorOf(['train.amp=fp16']).message, /^train\.amp: fp16 mixed precision needs CUDA/);
});

test('overrides: key paths, YAML values, new maps, list bounds', () => {
  assert.deepEqual(parseKeyPath('phases[1].scheduler.milestones[0]'), ['phases', 1, 'scheduler', 'milestones', 0]);
  for (const bad of ['', 'a..b', '[0]', 'a.', 'a[x]', '.a']) assert.throws(() => parseKeyPath(bad), RecipeError);
  const { recipe: r } = recipeFrom(BASE, {
    set: [
      'optimizer.lr=0.05',
      'phases[1].epochs=3',
      'data.subset.train=64',
      'scheduler={type: StepLR, step_size: 2}',
      'phases[0].freeze.train=[fc, layer4]',
      'name=quick run',
      'train.amp=false',
    ],
  });
  assert.equal(r.optimizer.lr, 0.05);
  assert.equal(r.phases[1]!.epochs, 3);
  assert.deepEqual(r.data.subset, { train: 64 });
  assert.deepEqual(r.scheduler, { type: 'StepLR', step_size: 2 });
  assert.deepEqual(r.phases[0]!.freeze, { freeze: '!fc', train: ['fc', 'layer4'] });
  assert.equal(r.name, 'quick run');
  assert.equal(r.train?.amp, false);
  assert.equal(errorOf(['phases[5].epochs=1']).message, 'phases[5]: out of range (the list has 2 items)');
  assert.match(errorOf(['optimizer.lr']).message, /an override is path=value/);
  assert.match(errorOf(['optimizer.lr.x=1']).message, /^optimizer\.lr: is not a mapping/);
  // index == length appends
  const three = recipeFrom(BASE, { set: ['phases[2]={epochs: 1}'] }).recipe;
  assert.equal(three.phases.length, 3);
});

test('YAML syntax errors name the file, line and column', async () => {
  await withTmp((dir) => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, 'model: {name: resnet18\ndata: x\n');
    assert.throws(
      () => loadRecipe(f),
      (e: RecipeError) => e instanceof RecipeError && e.path.startsWith(`${f}:`) && /not valid YAML/.test(e.message),
    );
    writeFileSync(f, '- a\n- b\n');
    assert.throws(() => loadRecipe(f), /a recipe must be a YAML mapping/);
    assert.throws(() => loadRecipe(join(dir, 'none.yaml')), /no such recipe file/);
  });
});

test('extends: deep merge, lists replace, a new type replaces the object, null removes, paths per file', async () => {
  await withTmp((dir) => {
    const base = join(dir, 'base', 'base.yaml');
    mkdirSync(join(dir, 'base'));
    mkdirSync(join(dir, 'child'));
    writeFileSync(
      base,
      [
        'name: base',
        'model: {name: resnet18, numClasses: 4, pretrained: {checkpoint: ckpt/r18.pth, exclude: fc}}',
        'data: {kind: image-folder, root: images, batchSize: 16, imageSize: 64}',
        'optimizer: {type: Adam, lr: 0.001, betas: [0.9, 0.99]}',
        'scheduler: {type: StepLR, step_size: 2}',
        'phases: [{epochs: 1, freeze: {freeze: "!fc"}}, {epochs: 3, freeze: none}]',
        'train: {seed: 3, clip: 1.0}',
      ].join('\n'),
    );
    const child = join(dir, 'child', 'child.yaml');
    writeFileSync(
      child,
      [
        'extends: ../base/base.yaml',
        'name: child',
        'data: {batchSize: 8, val: ../val-here}',
        'optimizer: {type: SGD, lr: 0.1, momentum: 0.9}',
        'scheduler: null',
        'phases: [{epochs: 5}]',
        'train: {seed: 4}',
      ].join('\n'),
    );
    const { recipe: r, files, name } = loadRecipe(child);
    assert.equal(name, 'child');
    assert.deepEqual(files, [child, base]);
    assert.equal(r.data.batchSize, 8, 'child wins');
    assert.equal(r.data.imageSize, 64, 'base kept');
    assert.equal(r.data.root, join(dir, 'base', 'images'), "base's relative path from the base's folder");
    assert.equal(r.data.val, join(dir, 'val-here'), "child's relative path from the child's folder");
    assert.deepEqual(r.model.pretrained, { checkpoint: join(dir, 'base', 'ckpt', 'r18.pth'), exclude: 'fc' });
    assert.deepEqual(r.optimizer, { type: 'SGD', lr: 0.1, momentum: 0.9 }, 'no Adam betas left behind');
    assert.equal(r.scheduler, undefined, 'null removes');
    assert.deepEqual(r.phases, [{ epochs: 5 }], 'lists replace');
    assert.deepEqual(r.train, { seed: 4, clip: 1.0 });
    // overrides apply after extends, paths relative to the working directory
    const o = loadRecipe(child, { set: ['data.root=rel/imgs', 'model.pretrained.checkpoint=/abs/c.pth'], cwd: dir });
    assert.equal(o.recipe.data.root, join(dir, 'rel', 'imgs'));
    assert.equal((o.recipe.model.pretrained as { checkpoint: string }).checkpoint, '/abs/c.pth');
    // loops and missing bases
    writeFileSync(base, `extends: ../child/child.yaml\n${readFileSync(base, 'utf8')}`);
    assert.throws(() => loadRecipe(child), /extends loops: child\.yaml -> base\.yaml -> child\.yaml/);
    writeFileSync(child, 'extends: nowhere.yaml\n');
    assert.throws(() => loadRecipe(child), /nowhere\.yaml does not exist \(extended by/);
  });
});

test('every recipe in recipes/ loads and its header says what it reproduces, in plain words', () => {
  const files = readdirSync(join(ROOT, 'recipes')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 14);
  for (const f of files) {
    const text = readFileSync(join(ROOT, 'recipes', f), 'utf8');
    const header = text.split('\n').filter((_l, i, ls) => ls.slice(0, i + 1).every((x) => x.startsWith('#')));
    assert.ok(header.join(' ').length > 80, `${f} starts with a header saying what it reproduces`);
    // user-facing text: no internal paths, no "seed NNN" labels, in the header or the run name
    assert.doesNotMatch(text, /\.\.\/shared|seeds\/|\bseed ?0\d\d/i, `${f} speaks the project's own words`);
    const r = loadRecipe(join(ROOT, 'recipes', f));
    assert.doesNotMatch(r.name, /seed/, `${f}: run name ${r.name}`);
  }
});

test('schedulers are checked against the optimizer the recipe builds: OneCycleLR with SGD momentum or AdamW', () => {
  const cycle = { type: 'OneCycleLR', interval: 'step' };
  // before: "optimizer must support momentum" for every optimizer (a stand-in with defaults { lr })
  assert.doesNotThrow(() => recipeFrom({ ...BASE, scheduler: cycle }));
  assert.doesNotThrow(() => recipeFrom({ ...BASE, optimizer: { type: 'AdamW', lr: 1e-3 }, scheduler: cycle }));
  assert.doesNotThrow(() =>
    recipeFrom(BASE, {
      set: ['optimizer={type: Adam, lr: 0.001}', 'phases[1].scheduler={type: OneCycleLR, interval: step}'],
    }),
  );
  // a phase after a switch gets the switched-to optimizer
  assert.doesNotThrow(() =>
    recipeFrom(BASE, {
      set: [
        'optimizer={type: Adam, lr: 0.001}',
        'phases[1].optimizer={type: SGD, momentum: 0.9}',
        'phases[1].scheduler={type: OneCycleLR, interval: step, base_momentum: 0.8}',
      ],
    }),
  );
  assert.equal(
    errorOf(['scheduler={type: OneCycleLR, pct_start: 2}']).message,
    'scheduler: OneCycleLR: pct_start must be between 0 and 1, got 2',
  );
});

test('monitors name metrics of the one vocabulary, with a did-you-mean, before any compute', () => {
  const e = errorOf(['train.monitor=val_accuracy']);
  assert.equal(e.path, 'train.monitor');
  assert.match(
    e.message,
    /^train\.monitor: unknown metric 'val_accuracy'; the metrics are train\.loss, .*eval\.macroF1/,
  );
  assert.equal(e.hint, "did you mean 'eval.accuracy'?");
  assert.equal(errorOf(['train.monitor={metric: accuracy}']).hint, "did you mean 'eval.accuracy'?");
  assert.equal(errorOf(['train.monitor={metric: accuracy}']).path, 'train.monitor.metric');
  const early = errorOf(['train.earlyStopping={monitor: eval.acuracy}']);
  assert.equal(early.path, 'train.earlyStopping.monitor');
  assert.equal(early.hint, "did you mean 'eval.accuracy'?");
  const plateau = errorOf(['scheduler={type: ReduceLROnPlateau, mode: max, monitor: val_acc}']);
  assert.equal(plateau.path, 'scheduler.monitor');
  assert.equal(plateau.hint, "did you mean 'eval.accuracy'?");
  const phase = errorOf(['phases[1].scheduler={type: ReduceLROnPlateau, monitor: train_loss}']);
  assert.equal(phase.path, 'phases[1].scheduler.monitor');
  assert.equal(phase.hint, "did you mean 'train.loss'?");
  const ok = recipeFrom(BASE, {
    set: [
      'train.monitor=eval.macroF1',
      'train.earlyStopping={monitor: train.loss}',
      'scheduler={type: ReduceLROnPlateau, monitor: eval.top5}',
    ],
  });
  assert.equal(ok.recipe.train?.monitor, 'eval.macroF1');
  // text data without a validation split logs no eval.* metrics
  const text = { ...BASE, data: { kind: 'text', train: 'x.csv', tokenizer: 'vocab.txt' } };
  assert.match(
    errorOf(['train.monitor=eval.accuracy'], text).message,
    /^train\.monitor: 'eval\.accuracy' is a validation metric, but this run has no validation data/,
  );
  assert.equal(errorOf(['scheduler={type: ReduceLROnPlateau, monitor: eval.loss}'], text).path, 'scheduler.monitor');
});

test("--set values YAML reads specially get a hint to quote them; '*' alone freezes nothing that trains", () => {
  const star = errorOf(['phases[0].freeze.freeze=*']);
  assert.match(star.message, /^phases\[0\]\.freeze\.freeze: override value is not valid YAML/);
  assert.match(star.hint ?? '', /quote the value for YAML and the shell: --set 'phases\[0\]\.freeze\.freeze="\*"'/);
  // '!fc' is a YAML tag: it used to become '' silently
  assert.match(errorOf(['phases[0].freeze.freeze=!fc']).hint ?? '', /--set 'phases\[0\]\.freeze\.freeze="!fc"'/);
  assert.deepEqual(recipeFrom(BASE, { set: ['phases[0].freeze.freeze="!fc"'] }).recipe.phases[0]!.freeze, {
    freeze: '!fc',
  });
  assert.equal(
    errorOf(['phases[0].freeze.freeze="*"']).message,
    "phases[0].freeze: nothing trains: '*' freezes every parameter (hint: name what trains, e.g. { freeze: '*', train: fc }, or write freeze: none)",
  );
  assert.doesNotThrow(() => recipeFrom(BASE, { set: ['phases[0].freeze={freeze: "*", train: fc}'] }));
  assert.doesNotThrow(() => recipeFrom(BASE, { set: ['phases[0].freeze={freeze: "*", bn: train}'] }));
});

test('docs/recipes.md holds the field reference generated from the schema', () => {
  const file = join(ROOT, 'docs', 'recipes.md');
  const ref = recipeReference();
  const doc = readFileSync(file, 'utf8');
  const start = '<!-- fields:start (generated from src/recipe/schema.ts) -->';
  const end = '<!-- fields:end -->';
  const i = doc.indexOf(start);
  const j = doc.indexOf(end);
  assert.ok(i >= 0 && j > i, 'docs/recipes.md has the field reference markers');
  const current = doc.slice(i + start.length, j).trim();
  if (process.env.GRAFT_WRITE_DOCS && current !== ref) {
    writeFileSync(file, `${doc.slice(0, i + start.length)}\n${ref}\n${doc.slice(j)}`);
    return;
  }
  assert.equal(current, ref, 'regenerate: GRAFT_WRITE_DOCS=1 node --import tsx --test test/recipe/schema.test.ts');
  for (const key of ['model.pretrained.fromPrefix', 'phases[].lr.equalise', 'train.clip', 'groups[].lrScale'])
    assert.ok(ref.includes(`\`${key}\``), key);
});
