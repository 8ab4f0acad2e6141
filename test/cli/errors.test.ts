// Exit codes and messages of the recipe commands: 0 ok, 1 a bad recipe / data / failed run (the
// message names the file and path), 2 usage; --help everywhere. One run through the real binary.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { capture, quick, ROOT, recipe, withTmp } from '../recipe/_helpers.ts';

const graft = (...args: string[]) => capture(() => main(args));
const sets = (xs: string[]) => xs.flatMap((x) => ['--set', x]);

const MINI =
  'model: {name: cifar_net}\ndata: {kind: fashion-mnist, imageSize: 32}\noptimizer: {type: SGD, lr: 0.01}\nphases: [{epochs: 1}]\n';

test('a bad recipe is exit 1 with the file, the path and what was expected', async () => {
  await withTmp(async (dir) => {
    const f = join(dir, 'bad.yaml');
    writeFileSync(f, MINI.replace('lr: 0.01', 'lr: fast'));
    for (const cmd of ['train', 'plan', 'eval']) {
      const r = await graft(cmd, f);
      assert.equal(r.code, 1, cmd);
      assert.equal(r.err, `graft ${cmd}: ${f}: optimizer.lr: expected a positive number, got "fast"`);
    }
    writeFileSync(f, `${MINI}train: {clipp: 1.0}\n`);
    assert.equal(
      (await graft('train', f)).err,
      `graft train: ${f}: train.clipp: unknown key (hint: did you mean 'clip'?)`,
    );
    writeFileSync(f, MINI);
    const o = await graft('plan', f, '--set', 'phases[0].freeze={freeze: fc9}');
    assert.equal(o.code, 1);
    assert.match(o.err, /^graft plan: phases\[0\]\.freeze: selector 'fc9' matches no parameter of CifarNet/);
    writeFileSync(f, 'model: {name: cifar_net\n');
    const y = await graft('train', f);
    assert.equal(y.code, 1);
    assert.match(y.err, new RegExp(`^graft train: ${f}:2:1: not valid YAML`));
  });
});

test('usage errors are exit 2 with the usage; --help is exit 0 for every command', async () => {
  for (const args of [
    ['train'],
    ['train', 'a.yaml', 'b.yaml'],
    ['train', recipe('003_head_then_all.yaml'), '--bogus'],
    ['train', join(ROOT, 'nope.yaml')],
    ['train', '--resume', ROOT],
    ['plan'],
    ['plan', recipe('003_head_then_all.yaml'), '--width', 'wide'],
    ['eval'],
    ['eval', ROOT],
    ['eval', recipe('003_head_then_all.yaml'), '--split', 'dev'],
    ['predict'],
    ['predict', ROOT],
  ]) {
    const r = await graft(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /\n\nusage: graft /, args.join(' '));
  }
  for (const cmd of ['train', 'plan', 'eval', 'predict', 'inspect']) {
    const r = await graft(cmd, '--help');
    assert.equal(r.code, 0);
    assert.match(r.out, new RegExp(`^usage: graft ${cmd} `));
    assert.match(r.out, /Exit codes: 0/);
  }
  const top = await graft('--help');
  for (const cmd of ['train', 'plan', 'eval', 'predict', 'inspect'])
    assert.match(top.out, new RegExp(`\n {2}${cmd} +\\S`));
});

test('a run whose loss turns NaN is exit 1 naming the step and the last good checkpoint', async () => {
  await withTmp(async (dir) => {
    const r = await graft(
      'train',
      recipe('004_cifar_all_layers.yaml'),
      ...sets([
        ...quick(1, { train: 16 }),
        'model.pretrained=null', // from the initialisation: the fine-tuning recipe's base is not needed here
        // a good first epoch, then a phase whose lr blows the weights up: last.pth (epoch 1) stays good
        'phases[1]={name: boom, epochs: 1, lr: {scale: 1.0e+12}}',
      ]),
      '--out',
      join(dir, 'run'),
      '--quiet',
    );
    assert.equal(r.code, 1);
    assert.match(r.err, /^graft train: loss is (NaN|Infinity|-Infinity) at epoch \d\/2, step \d+/);
    assert.match(r.err, /The last good checkpoint is .*run\/checkpoints\/last\.pth/);
  });
});

test('the graft binary exits with the code (real process)', () => {
  const bin = join(ROOT, 'bin', 'graft.mjs');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: ROOT, encoding: 'utf8' });
  const bad = run('plan', recipe('001_backbone_head_10x.yaml'), '--set', 'optimizer.lr=-1');
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /recipes\/001_backbone_head_10x\.yaml: optimizer\.lr: expected a positive number, got -1/);
  const usage = run('train');
  assert.equal(usage.status, 2);
});
