// Parameter groups: every parameter in one group from the start, lrs by selector and by layer
// group (fastai's slice, timm's layer_decay), no weight decay for ndim <= 1, and seed 004.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  evenMults,
  layerDecayScales,
  lrSlice,
  PhaseRunner,
  paramGroups,
  resolveFreeze,
} from '../../src/finetune/index.ts';
import * as models from '../../src/models/index.ts';
import { createOptimizer } from '../../src/optim/index.ts';
import { pyPow } from '../../src/schedule/index.ts';
import { runEpoch, tiny } from './_helpers.ts';

const names = (pg: ReturnType<typeof paramGroups>) => pg.groups.map((g) => [g.name, g.params, g.lr, g.weight_decay]);

describe('paramGroups', () => {
  test('explicit groups by selector with lr / lrScale / hyper-parameters; the rest in one group', () => {
    const m = tiny();
    const pg = paramGroups(m, {
      baseLr: 0.1,
      groups: [
        { name: 'head', match: 'head', lrScale: 10, momentum: 0.5 },
        { name: 'bn', match: 'body.1', lr: 0.001, weight_decay: 0.1 },
      ],
      noDecay: false,
    });
    assert.deepEqual(names(pg), [
      ['head', ['head.weight', 'head.bias'], 1, undefined],
      ['bn', ['body.1.weight', 'body.1.bias'], 0.001, 0.1],
      ['default', ['body.0.weight'], 0.1, undefined],
    ]);
    assert.deepEqual(pg.inputs[0]!.momentum, 0.5);
    const opt = createOptimizer({ type: 'SGD', lr: 0.1, momentum: 0.9 }, pg.inputs);
    assert.deepEqual(
      opt.paramGroups.map((g) => [g.name, g.lr, g.momentum, g.weight_decay]),
      [
        ['head', 1, 0.5, 0],
        ['bn', 0.001, 0.9, 0.1],
        ['default', 0.1, 0.9, 0],
      ],
    );
  });

  test('a parameter matched by two groups is an error naming both', () => {
    assert.throws(
      () =>
        paramGroups(tiny(), {
          baseLr: 0.1,
          groups: [
            { name: 'norms', match: 'body.1' },
            { name: 'biases', match: '*.bias' },
          ],
        }),
      /parameter 'body.1.bias' is matched by group 'norms' and group 'biases'/,
    );
    assert.throws(
      () => paramGroups(tiny(), { baseLr: 0.1, groups: [{ name: 'x', match: 'head', lr: 1, lrScale: 2 }] }),
      /gives both lr and lrScale/,
    );
    assert.throws(
      () => paramGroups(tiny(), { baseLr: 0.1, groups: [{ name: 'h', match: 'head' }], rest: false }),
      /parameters in no group: body.0.weight, body.1.weight, body.1.bias/,
    );
  });

  test('weight decay as torch.optim by default: every parameter decays; noDecay: true is the opt-in split', () => {
    const m = tiny();
    // torch.optim.SGD(model.parameters(), weight_decay=0.01) decays biases and norm weights too
    assert.deepEqual(names(paramGroups(m, { baseLr: 0.1, weight_decay: 0.01 })), [
      ['default', ['body.0.weight', 'body.1.weight', 'body.1.bias', 'head.weight', 'head.bias'], 0.1, 0.01],
    ]);
    assert.deepEqual(
      paramGroups(m, { baseLr: 0.1, weight_decay: 0.01, groups: [{ name: 'h', match: 'head' }] }).groups.map(
        (g) => g.name,
      ),
      ['h', 'default'],
    );
    // opt-in: biases and ndim <= 1 parameters (norm weights) at weight decay 0, as timm / fastai / HF's Trainer
    assert.deepEqual(names(paramGroups(m, { baseLr: 0.1, weight_decay: 0.01, noDecay: true })), [
      ['default', ['body.0.weight', 'head.weight'], 0.1, 0.01],
      ['default.no_decay', ['body.1.weight', 'body.1.bias', 'head.bias'], 0.1, 0],
    ]);
    // no decay anywhere: no split
    assert.deepEqual(paramGroups(m, { baseLr: 0.1, noDecay: true }).groups.length, 1);
    // the optimizer's own default decay (AdamW 0.01) decides, without being written into the groups
    const pg = paramGroups(m, { baseLr: 0.1, noDecay: true }, { defaults: { weight_decay: 0.01 } });
    assert.deepEqual(names(pg)[0], ['default', ['body.0.weight', 'head.weight'], 0.1, undefined]);
    assert.equal(paramGroups(m, { baseLr: 0.1 }, { defaults: { weight_decay: 0.01 } }).groups.length, 1);
    assert.deepEqual(paramGroups(m, { baseLr: 0.1, weight_decay: 0.01, noDecay: 'head' }).groups[1]!.params, [
      'body.1.weight',
      'body.1.bias',
      'head.weight',
      'head.bias',
    ]);
  });

  test('exclude leaves parameters out of every group (a second optimizer of your own may train them)', () => {
    const m = tiny();
    const pg = paramGroups(m, {
      baseLr: 0.1,
      exclude: 'body.1',
      groups: [{ name: 'all', match: '*' }],
    });
    assert.deepEqual(pg.excluded, ['body.1.weight', 'body.1.bias']);
    assert.deepEqual(names(pg), [['all', ['body.0.weight', 'head.weight', 'head.bias'], 0.1, undefined]]);
    assert.equal(pg.inputs.flatMap((g) => [...(g.params as Iterable<unknown>)]).length, 3);
    // rest: false does not count excluded parameters as unmatched
    assert.doesNotThrow(() =>
      paramGroups(m, { baseLr: 0.1, exclude: 'body', groups: [{ name: 'h', match: 'head' }], rest: false }),
    );
  });

  test("discriminative lrs: fastai's slice(lo, hi) and slice(hi) over the layer groups", () => {
    const m = models.create('resnet18', { numClasses: 4 });
    const pg = paramGroups(m, { baseLr: 1e-3, layers: { discriminative: [1e-5, 1e-3] } });
    const lrs = [...new Set(pg.groups.map((g) => g.lr))];
    // fastai: mult = stop / start; step = mult ** (1 / (n - 1)); start * step ** i
    const step = pyPow(1e-3 / 1e-5, 1 / 5);
    assert.deepEqual(
      lrs,
      [0, 1, 2, 3, 4, 5].map((i) => 1e-5 * pyPow(step, i)),
    );
    assert.deepEqual(evenMults(1e-5, 1e-3, 6), lrs);
    assert.deepEqual(
      pg.groups.map((g) => g.group),
      ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head'],
    );
    const sl = paramGroups(m, { baseLr: 1e-3, layers: { discriminative: 1e-3 } });
    assert.deepEqual(
      sl.groups.map((g) => g.lr),
      [1e-4, 1e-4, 1e-4, 1e-4, 1e-4, 1e-3],
    );
    assert.deepEqual(lrSlice(3, 1e-3), [1e-4, 1e-4, 1e-3]);
  });

  test("layer-wise decay (timm's layer_decay: scale = decay ** (last - layer))", () => {
    const m = tiny();
    const pg = paramGroups(m, { baseLr: 0.1, layers: { decay: 0.75 } });
    assert.deepEqual(
      pg.groups.map((g) => [g.group, g.lrScale]),
      [
        ['body.0', 0.75 ** 2],
        ['body.1', 0.75],
        ['head', 1],
      ],
    );
    assert.deepEqual(layerDecayScales(3, 0.75), [0.5625, 0.75, 1]);
  });

  test('explicit groups take their parameters before the layer groups', () => {
    const pg = paramGroups(tiny(), {
      baseLr: 0.1,
      groups: [{ name: 'biases', match: '*.bias', lr: 0.5 }],
      layers: true,
    });
    assert.deepEqual(
      pg.groups.map((g) => [g.name, g.params]),
      [
        ['biases', ['body.1.bias', 'head.bias']],
        ['body.0', ['body.0.weight']],
        ['body.1', ['body.1.weight']],
        ['head', ['head.weight']],
      ],
    );
  });

  test('frozen parameters are in the groups from the start: unfreezing adds no group and schedulers know every group', () => {
    const m = tiny();
    const r = new PhaseRunner(m, {
      optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 },
      groups: { groups: [{ name: 'body', match: 'body', lrScale: 0.1 }], rest: 'head' },
      scheduler: { type: 'StepLR', step_size: 1, gamma: 0.5 },
      phases: [
        { epochs: 2, freeze: { freeze: 'body' } },
        { epochs: 2, freeze: 'none' },
      ],
    });
    const groups = r.optimizer.paramGroups;
    assert.equal(groups.length, 2);
    assert.deepEqual(groups[0]!.params.length, 3, 'the frozen body is in group 0');
    const lrs: number[][] = [];
    for (let e = 0; e < 4; e++) lrs.push(runEpoch(m, r, e));
    assert.equal(r.optimizer.paramGroups, groups, 'still the same groups after unfreezing');
    assert.deepEqual(lrs, [
      [0.010000000000000002, 0.1],
      [0.005000000000000001, 0.05],
      [0.0025000000000000005, 0.025],
      [0.0012500000000000002, 0.0125],
    ]);
  });
});

describe('seed 004', () => {
  test('seed 004: last layer / last K layers / all trainable', () => {
    const m = models.create('cifar_net');
    const trainable = (spec: Parameters<typeof resolveFreeze>[1]) => resolveFreeze(m, spec).trainable;
    assert.deepEqual(trainable({ freezeTo: -1 }), ['fc3.weight', 'fc3.bias']);
    assert.deepEqual(trainable({ freeze: '*', train: { children: '', last: 2 } }), [
      'fc2.weight',
      'fc2.bias',
      'fc3.weight',
      'fc3.bias',
    ]);
    assert.deepEqual(trainable({ freezeTo: -2 }), [
      'fc1.weight',
      'fc1.bias',
      'fc2.weight',
      'fc2.bias',
      'fc3.weight',
      'fc3.bias',
    ]);
    assert.equal(trainable('none').length, 10);
  });

  test('seed 004: BERT with only the last encoder layer and the classifier trainable, AdamW 2e-5, linear warm-up, clip 1.0', () => {
    const config = {
      hidden_size: 16,
      num_hidden_layers: 3,
      num_attention_heads: 2,
      intermediate_size: 32,
      vocab_size: 50,
      max_position_embeddings: 16,
    };
    const m = models.create('bert-base-uncased', { numClasses: 2, config });
    const stepsPerEpoch = 5;
    const r = new PhaseRunner(m, {
      optimizer: { type: 'AdamW', lr: 2e-5, eps: 1e-8 },
      groups: { weight_decay: 0 },
      scheduler: { type: 'linear', num_warmup_steps: 2, interval: 'step' },
      phases: [
        {
          epochs: 2,
          freeze: { freeze: '*', train: [{ children: 'bert.encoder.layer', last: 1 }, 'classifier'] },
        },
      ],
      stepsPerEpoch,
    });
    const trainable = [...m.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
    assert.ok(trainable.length > 2);
    assert.ok(trainable.every((n) => n.startsWith('bert.encoder.layer.2.') || n.startsWith('classifier.')));
    assert.ok(
      trainable.includes('classifier.weight') && trainable.includes('bert.encoder.layer.2.output.dense.weight'),
    );
    assert.equal(
      r.optimizer.paramGroups[0]!.params.length,
      [...m.namedParameters()].length,
      'every parameter is in the AdamW group; the frozen ones simply get no gradient',
    );
    // transformers' get_linear_schedule_with_warmup over all 10 steps (num_training_steps from the run)
    const lrs: number[] = [];
    for (let s = 0; s < 10; s++) {
      lrs.push(r.optimizer.paramGroups[0]!.lr);
      r.onStepEnd();
    }
    const expected = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((s) => 2e-5 * (s < 2 ? s / 2 : Math.max(0, (10 - s) / 8)));
    assert.deepEqual(lrs, expected);
  });
});
