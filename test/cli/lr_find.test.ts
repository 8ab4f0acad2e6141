// `graft lr-find RECIPE`: a sweep per phase of a tiny recipe (head only, then everything), the
// terminal chart, lr_find.json + lr_find.html in the output folder, nothing that looks like a run,
// and usage errors.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { capture, cifarBase, recipe, withTmp } from '../recipe/_helpers.ts';

const graft = (...args: string[]) => capture(() => main(args));
const sets = (xs: string[]) => xs.flatMap((x) => ['--set', x]);
const tiny = (dir: string) =>
  sets([
    'data.subset={train: 48, val: 8}',
    'data.batchSize=8',
    'train.threads=2',
    cifarBase(dir),
    "phases=[{name: head, epochs: 1, freeze: {freeze: '*', train: fc3}}, {name: all, epochs: 1, freeze: none}]",
    'groups=[{name: body, match: "!fc3", lrScale: 0.1}, {name: head, match: fc3}]',
  ]);

test('graft lr-find sweeps every phase and writes lr_find.json and lr_find.html', async () => {
  await withTmp(async (dir) => {
    const out = join(dir, 'out');
    const j = await graft(
      'lr-find',
      recipe('004_cifar_last_k_layers.yaml'),
      ...tiny(dir),
      '--steps',
      '14',
      '--out',
      out,
      '--json',
      '--quiet',
    );
    assert.equal(j.code, 0, j.err);
    const res = JSON.parse(j.out);
    assert.equal(res.sweeps.length, 2);
    const [head, all] = res.sweeps;
    assert.deepEqual(head.phase, { index: 0, name: 'head', trainable: 2, frozen: 8, optimizer: 'Adam' });
    assert.equal(all.phase.trainable, 10);
    for (const s of res.sweeps) {
      assert.ok(s.steps.length >= 1 && s.steps.length <= 14);
      assert.equal(s.steps[0].lr, 1e-7);
      assert.equal(s.reference, 'head');
      assert.deepEqual(
        s.groups.map((g: { name: string; ratio: number }) => [g.name, +g.ratio.toFixed(12)]),
        [
          ['body', 0.1],
          ['head', 1],
        ],
      );
      assert.equal(s.runLr, 1e-3);
    }
    // the files: the same sweeps, and a page with a chart per phase
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'lr_find.json'), 'utf8')).sweeps, res.sweeps);
    const html = readFileSync(join(out, 'lr_find.html'), 'utf8');
    assert.equal((html.match(/<svg/g) ?? []).length, 2);
    assert.ok(html.includes('Phase 0: head') && html.includes('Phase 1: all'));
    assert.ok(!/https?:/.test(html), 'no network references');
    assert.deepEqual(readdirSync(out).sort(), ['lr_find.html', 'lr_find.json']);
    assert.ok(!existsSync(join(out, 'metrics.jsonl')));

    // one phase, as text with an ASCII chart
    const t = await graft(
      'lr-find',
      recipe('004_cifar_last_k_layers.yaml'),
      ...tiny(dir),
      '--steps',
      '14',
      '--phase',
      '1',
      '--out',
      out,
      '--ascii',
      '--suggest',
      'valley,minimum',
    );
    assert.equal(t.code, 0, t.err);
    assert.match(
      t.out,
      /^phase 1 'all': 10 parameter tensors train, 0 frozen \(Adam\); \d+ of 14 steps, (done|diverged)/,
    );
    assert.ok(/^[\x20-\x7e\n]*$/.test(t.out), 'ASCII only');
    assert.match(t.out, /O valley: lr \d\.\d\de-?\d+/);
    assert.match(t.out, /suggested lr \S+ for head \([\d.e+-]+ x the recipe's 1\.00e-3\)/);
    assert.match(t.out, /groups at that lr: body \S+, head \S+/);
    assert.match(t.out, /minimum: \S+/);
    assert.match(t.err, /phase 1 'all': step 1\/14, lr 1\.00e-7/);
    assert.equal(JSON.parse(readFileSync(join(out, 'lr_find.json'), 'utf8')).sweeps.length, 1);

    // --from: the unfrozen phase swept from the weights a run trained (not the recipe's initial ones)
    const run = join(dir, 'run');
    const tr = await graft(
      'train',
      recipe('004_cifar_last_k_layers.yaml'),
      ...tiny(dir),
      '--set',
      'train.report=false',
      '--out',
      run,
      '--quiet',
    );
    assert.equal(tr.code, 0, tr.err);
    const f = await graft(
      'lr-find',
      recipe('004_cifar_last_k_layers.yaml'),
      ...tiny(dir),
      '--steps',
      '8',
      '--phase',
      '1',
      '--from',
      run,
      '--out',
      out,
      '--json',
      '--quiet',
    );
    assert.equal(f.code, 0, f.err);
    const trained = JSON.parse(f.out).sweeps[0];
    // the first step runs at 1e-7: its loss is the loss of the weights it starts from
    assert.notEqual(trained.steps[0].loss, all.steps[0].loss);
    const bad = await graft(
      'lr-find',
      recipe('004_cifar_last_k_layers.yaml'),
      ...tiny(dir),
      '--from',
      join(dir, 'nowhere'),
    );
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no checkpoint/);
  });
});

test('graft lr-find: usage errors exit 2 and say what is wrong', async () => {
  const r = recipe('004_cifar_last_k_layers.yaml');
  const cases: [string[], RegExp][] = [
    [[], /missing RECIPE/],
    [[r, '--phase', '3'], /--phase 3: the recipe has 1 phase \(0 to 0\)/],
    [[r, '--start', '0'], /--start needs a number > 0/],
    [[r, '--start', '1', '--end', '0.5'], /--end \(0\.5\) must be above --start \(1\)/],
    [[r, '--suggest', 'valley,fastest'], /unknown method 'fastest'/],
    [[r, '--steps', 'x'], /--steps needs an integer/],
  ];
  for (const [args, msg] of cases) {
    const x = await graft('lr-find', ...args);
    assert.equal(x.code, 2, args.join(' '));
    assert.match(x.err, msg);
    assert.match(x.err, /usage: graft lr-find RECIPE/);
  }
});
