// lrFind on the real trainer: everything restored bit for bit (weights, BatchNorm buffers, flags,
// modes, freeze, optimizer state), training afterwards identical to training without it, the
// phase's freeze and the groups' lr ratios kept while the multiplier sweeps, the divergence
// stop (also on a NaN loss), a tiny real run whose suggestion lands in a sane range, and the
// files (lr_find.json, lr_find.html).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fmtLr, freezerOf, PhaseRunner, type RunSpec, suggestLrs } from '../../src/finetune/index.ts';
import type { Module } from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { crossEntropy, manualSeed, randn, type Tensor, tensor } from '../../src/tensor/index.ts';
import { fit, type LrFindResult, lrFind, writeLrFind } from '../../src/train/index.ts';
import { tiny } from './_helpers.ts';

/** 3 separable clusters in 4-d, 8 batches of 8. */
function data(): [Tensor, Tensor][] {
  manualSeed(7);
  const centres = [
    [2, 0, 0, -1],
    [-2, 1, 0, 1],
    [0, -2, 2, 0],
  ];
  const out: [Tensor, Tensor][] = [];
  for (let b = 0; b < 8; b++) {
    const ys = Array.from({ length: 8 }, (_, i) => (b + i) % 3);
    const noise = randn([8, 4]).mul(0.5);
    const x = tensor(
      ys.flatMap((y) => centres[y]!),
      { shape: [8, 4] },
    ).add(noise);
    out.push([x, tensor(ys, { dtype: 'int64' })]);
  }
  return out;
}

const SPEC: RunSpec = {
  optimizer: { type: 'SGD', lr: 0.05, momentum: 0.9 },
  groups: {
    groups: [
      { name: 'body', match: 'body', lrScale: 0.1 },
      { name: 'head', match: 'head' },
    ],
  },
  phases: [
    { name: 'head only', epochs: 1, freeze: { freeze: 'body' } },
    { name: 'all', epochs: 2, freeze: 'none', lr: { scale: 0.5 } },
  ],
};

/** Every parameter and buffer as raw bytes, with requires_grad, and every module's mode. */
function state(m: Module) {
  const bytes = [...m.stateDict()].map(([k, t]) => [k, Buffer.from(t.bytes()).toString('hex')]);
  return {
    bytes,
    grad: m.namedParameters ? [...m.namedParameters()].map(([k, p]) => [k, p.requiresGrad]) : [],
    modes: [...m.modules()].map((x) => x.training),
    frozen: freezerOf(m).state.frozen,
    bnEval: freezerOf(m).state.bnEval,
  };
}

test('lrFind restores weights, BatchNorm buffers, flags, modes and freeze exactly, per phase', async () => {
  const model = tiny();
  const train = data();
  const runner = new PhaseRunner(model, SPEC);
  model.eval();
  const before = state(model);
  const lrsBefore = runner.optimizer.paramGroups.map((g) => g.lr);
  for (const phase of [0, 1]) {
    const seen: number[][] = [];
    const r = await lrFind({
      model,
      runner,
      train,
      phase,
      numIt: 20,
      endLr: 1,
      callbacks: [{ beforeStep: (t) => void seen.push(t.optimizer.paramGroups.map((g) => g.lr)) }],
    });
    assert.deepEqual(state(model), before, `phase ${phase}: state after lrFind`);
    assert.equal(r.steps.length, seen.length);
    assert.equal(r.phase?.index, phase);
    assert.deepEqual(
      r.groups.map((g) => g.name),
      ['body', 'head'],
    );
    assert.equal(r.reference, 'head');
    if (phase === 0) {
      // head only: the body is frozen (requires-grad), only the head's 2 tensors train
      assert.equal(r.phase?.trainable, 2);
      assert.equal(r.phase?.frozen, 3);
    } else assert.equal(r.phase?.trainable, 5);
    // the ratio the run gives the groups (body 0.1 x head) holds at every step of the sweep
    assert.ok(Math.abs(r.groups[0]!.ratio - 0.1) < 1e-12, `ratio ${r.groups[0]!.ratio}`);
    seen.forEach((lrs, i) => {
      assert.equal(lrs[1], r.steps[i]!.lr);
      assert.ok(Math.abs(lrs[0]! - 0.1 * lrs[1]!) <= 1e-15 * lrs[1]!);
    });
    assert.equal(r.steps[0]!.lr, 1e-7);
    assert.deepEqual(Object.keys(r.suggestions[0]?.groupLrs ?? {}), r.suggestions.length ? ['body', 'head'] : []);
  }
  // the caller's runner is untouched
  assert.deepEqual(
    runner.optimizer.paramGroups.map((g) => g.lr),
    lrsBefore,
  );
  assert.equal(runner.optimizer.state.size, 0);
  await assert.rejects(lrFind({ model, runner, train, phase: 2 }), /phase 2 is not in this run \(2 phases: 0 to 1\)/);
});

test('a phase is swept with the lrs the run has at its start (schedulers and lr changes on the way)', async () => {
  const train = data();
  const spec: RunSpec = {
    ...SPEC,
    scheduler: { type: 'OneCycleLR', interval: 'step' },
    phases: [
      { name: 'head only', epochs: 2, freeze: { freeze: 'body' } },
      { name: 'all', epochs: 1, freeze: 'none' },
      { name: 'tail', steps: 3, lr: { scale: { body: 2 } } },
    ],
  };
  // what a real run has at the first step of each phase
  const model = tiny();
  const atStart = new Map<string, number[]>();
  await fit({
    model,
    runner: new PhaseRunner(model, spec),
    train,
    progress: false,
    callbacks: [
      {
        beforeStep: (t) => {
          if (t.phase && !atStart.has(t.phase))
            atStart.set(
              t.phase,
              t.optimizer.paramGroups.map((g) => g.lr),
            );
        },
      },
    ],
  });
  const fresh = tiny();
  for (const [phase, name] of ['head only', 'all', 'tail'].entries()) {
    const r = await lrFind({ model: fresh, spec, train, phase, numIt: 6 });
    const want = atStart.get(name)!;
    assert.equal(r.runLr, Math.max(...want), name);
    for (const [i, g] of r.groups.entries())
      assert.ok(Math.abs(g.ratio * r.runLr - want[i]!) <= 1e-15, `${name} ${g.name}`);
  }
});

test('training after lrFind equals training without it, bit for bit', async () => {
  const train = data();
  const run = async (withFinder: boolean) => {
    manualSeed(0);
    const model = tiny();
    const runner = new PhaseRunner(model, SPEC);
    if (withFinder) {
      await lrFind({ model, spec: SPEC, train, phase: 1, numIt: 30 });
      await lrFind({ model, spec: SPEC, train, phase: 0, numIt: 30 });
    }
    await fit({ model, runner, train, progress: false, seed: 3 });
    return state(model).bytes;
  };
  assert.deepEqual(await run(true), await run(false));
});

test('a plain optimizer: its state (momentum buffers) and lrs are restored', async () => {
  const model = tiny();
  const train = data();
  const opt = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  await fit({ model, optimizer: opt, train: train.slice(0, 2), epochs: 1, progress: false });
  const momentum = () =>
    [...opt.state.values()].map((s) => Buffer.from((s.momentum_buffer as Tensor).bytes()).toString('hex'));
  const before = { m: momentum(), w: state(model).bytes };
  const r = await lrFind({ model, optimizer: opt, train, numIt: 12 });
  assert.deepEqual(momentum(), before.m);
  assert.deepEqual(state(model).bytes, before.w);
  assert.equal(opt.paramGroups[0]!.lr, 0.01);
  assert.equal(r.phase, undefined);
  assert.equal(r.reference, 'group 0');
  await assert.rejects(lrFind({ model, optimizer: opt, spec: SPEC, train }), /one of runner, spec or optimizer/);
});

test('divergence stops the sweep; a NaN loss is a divergence, not a training error', async () => {
  const model = tiny();
  const train = data();
  const before = state(model);
  const r = await lrFind({ model, spec: SPEC, phase: 1, train, startLr: 1e-3, endLr: 1e4, numIt: 100 });
  assert.equal(r.stopReason, 'diverged');
  assert.ok(r.steps.length < 100, `${r.steps.length} steps`);
  const last = r.steps.at(-1)!;
  const best = Math.min(...r.steps.slice(0, -1).map((s) => s.smoothed));
  assert.ok(!Number.isFinite(last.smoothed) || last.smoothed > 4 * best);
  // the same sweep with stopDiv off runs on until the loss is not finite (or the end)
  let n = 0;
  const nanAt = 9;
  const r2 = await lrFind({
    model,
    spec: SPEC,
    train,
    numIt: 50,
    loss: (out: Tensor, y) => {
      n += 1;
      const l = crossEntropy(out, y!);
      return n === nanAt ? l.mul(Number.NaN) : l;
    },
  });
  assert.equal(r2.stopReason, 'diverged');
  assert.equal(r2.steps.length, nanAt);
  assert.ok(Number.isNaN(r2.steps.at(-1)!.loss));
  assert.deepEqual(state(model), before);
  const r3 = await lrFind({ model, spec: SPEC, train, numIt: 10, divThreshold: 1.0001, stopDiv: false });
  assert.equal(r3.steps.length, 10);
  assert.equal(r3.stopReason, 'done');
});

test('a tiny real run: the valley suggestion lands in a sane range and trains', async () => {
  const model = tiny();
  const train = data();
  const r = await lrFind({ model, spec: SPEC, phase: 1, train, suggest: ['valley', 'steep', 'minimum', 'slide'] });
  assert.equal(r.steps.length <= 100, true);
  assert.deepEqual(
    r.suggestions.map((s) => s.method),
    ['valley', 'steep', 'minimum', 'slide'],
  );
  const lr = r.suggested!;
  assert.ok(lr > 1e-4 && lr < 1, `valley ${lr}`);
  // it is an lr the loss falls at: one epoch from the same weights at the suggestion lowers it
  const loss = (m: Module) => train.reduce((a, [x, y]) => a + crossEntropy(m.call(x) as Tensor, y).item(), 0);
  const l0 = loss(model);
  const after = async (at: number) => {
    const m = tiny();
    const spec = {
      ...SPEC,
      phases: [{ epochs: 3, freeze: 'none' as const }],
      optimizer: { type: 'SGD', lr: at, momentum: 0.9 },
    };
    await fit({ model: m, runner: new PhaseRunner(m, spec), train, progress: false });
    return loss(m);
  };
  const atLr = await after(lr);
  assert.ok(atLr < l0 * 0.8, `${atLr} vs ${l0}`);
  // and faster than at a hundredth of it
  assert.ok(atLr < (await after(lr / 100)), 'the suggestion beats lr / 100');
});

test('lr_find.json and lr_find.html: the suggestion drawn, a sweep too short to read said so, NaN as null', async () => {
  const lrs = Array.from({ length: 30 }, (_, i) => 1e-6 * 1.5 ** i);
  const smoothed = lrs.map((lr) => 2 - Math.log10(lr) * 0.1 + (lr > 1e-2 ? (lr - 1e-2) * 100 : 0));
  const base = {
    groups: [{ name: 'head', ratio: 1 }],
    reference: 'head',
    runLr: 1e-3,
    startLr: 1e-6,
    endLr: 1,
    numIt: 30,
    beta: 0.98,
    divThreshold: 4,
    problems: [],
  };
  const { suggestions } = suggestLrs(lrs, smoothed, 30, ['valley']);
  const good: LrFindResult = {
    ...base,
    steps: lrs.map((lr, i) => ({ lr, loss: smoothed[i]!, smoothed: smoothed[i]! })),
    stopReason: 'done',
    suggestions: suggestions.map((s) => ({ ...s, groupLrs: { head: s.lr } })),
    suggested: suggestions[0]!.lr,
    phase: { index: 0, name: 'head', trainable: 2, frozen: 3, optimizer: 'SGD' },
  };
  const bad: LrFindResult = {
    ...base,
    steps: [
      { lr: 1e-6, loss: 2, smoothed: 2 },
      { lr: 2e-6, loss: Number.NaN, smoothed: Number.NaN },
    ],
    stopReason: 'diverged',
    suggestions: [],
    suggested: undefined,
    problems: ['valley: 0 usable points (needs 1): the sweep diverged after 2 steps'],
  };
  const dir = mkdtempSync(join(tmpdir(), 'lrfind-'));
  try {
    const files = await writeLrFind(dir, [good, bad], { recipe: 'tiny' });
    const json = JSON.parse(readFileSync(files.json, 'utf8'));
    assert.equal(json.recipe, 'tiny');
    assert.equal(json.sweeps[1].steps[1].loss, null);
    const html = readFileSync(files.html, 'utf8');
    assert.equal((html.match(/<svg/g) ?? []).length, 1, 'one chart: the short sweep has none');
    assert.ok(html.includes(`valley ${fmtLr(good.suggested!)}`), 'the suggestion labelled in the chart');
    assert.ok(html.includes('no suggestion: valley: 0 usable points'));
    assert.ok(html.includes('suggested lr') && html.includes('for group head'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
