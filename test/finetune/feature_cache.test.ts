// Frozen-prefix feature caching: a head-only phase trained from cached features gives the losses and
// weights of the same run without the cache; the cache refills when the prefix or its weights
// change and stays off (saying why) for random augmentation, train-mode BatchNorm and dropout.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DataLoader, ImageArrayDataset, T, TensorDataset } from '../../src/data/index.ts';
import { FeatureStore } from '../../src/finetune/feature_cache_store.ts';
import {
  FeatureCache,
  featureStages,
  findCut,
  PhaseRunner,
  type RunSpec,
  runStages,
} from '../../src/finetune/index.ts';
import { mobilenetV2, resnet18 } from '../../src/models/index.ts';
import {
  AdaptiveAvgPool2d,
  BatchNorm2d,
  Conv2d,
  Dropout,
  Flatten,
  Linear,
  Module,
  ReLU,
  Sequential,
} from '../../src/nn/index.ts';
import { aten, manualSeed, noGrad, randn, type Tensor, tensor, tidy, zeros } from '../../src/tensor/index.ts';
import { fit } from '../../src/train/index.ts';
import { allBits, bits } from './_helpers.ts';

function images(n: number, seed: number): ImageArrayDataset {
  let s = seed;
  const px = new Uint8Array(n * 16 * 16 * 3).map(() => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % 256;
  });
  return new ImageArrayDataset(
    px,
    [n, 16, 16, 3],
    Array.from({ length: n }, (_, i) => i % 3),
    {
      transforms: [T.normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])],
    },
  );
}

const HEAD_ONLY = { freeze: '*', train: '8' };
const spec = (phases: RunSpec['phases']): RunSpec => ({
  optimizer: { type: 'SGD', lr: 0.05, momentum: 0.9, weight_decay: 1e-4 },
  phases,
});

// a small conv net with BatchNorm: stages 0..8, the head is '8'
function net(): Sequential {
  manualSeed(7);
  return new Sequential(
    new Conv2d(3, 8, 3, { padding: 1 }),
    new BatchNorm2d(8),
    new ReLU(),
    new Conv2d(8, 16, 3, { stride: 2 }),
    new BatchNorm2d(16),
    new ReLU(),
    new AdaptiveAvgPool2d([1, 1]),
    new Flatten(),
    new Linear(16, 3),
  );
}

interface Run {
  losses: number[];
  evalLosses: number[];
  state: Map<string, number[]>;
  cache?: FeatureCache;
  loads: number;
}

/** Trains a fresh small conv net on 24 tiny images; `cache`: through a FeatureCache with these options. */
async function train(
  phases: RunSpec['phases'],
  cache?: ConstructorParameters<typeof FeatureCache>[1],
  ds = images(24, 1),
  make: () => Module = net,
): Promise<Run> {
  manualSeed(7);
  const model = make();
  let loads = 0;
  const load = ds.loadBatch.bind(ds);
  ds.loadBatch = (i, c) => {
    loads++;
    return load(i, c);
  };
  const trainLoader = new DataLoader(ds, { batchSize: 8, shuffle: true, seed: 3 });
  const validLoader = new DataLoader(images(8, 2), { batchSize: 4 });
  const runner = new PhaseRunner(model, spec(phases));
  const fc = cache ? new FeatureCache(model, cache) : undefined;
  const losses: number[] = [];
  const evalLosses: number[] = [];
  await fit({
    model,
    runner,
    train: fc ? fc.source(trainLoader, 'train') : trainLoader,
    valid: fc ? fc.source(validLoader, 'val') : validLoader,
    ...(fc ? { forward: fc.forward() } : {}),
    progress: false,
    callbacks: [
      {
        afterBatch: (t) => {
          losses.push(t.lossValue);
        },
        afterEpoch: (t) => {
          evalLosses.push(t.metrics['eval.loss']!);
        },
      },
    ],
  });
  const state = allBits(model);
  runner.release();
  return { losses, evalLosses, state, ...(fc ? { cache: fc } : {}), loads };
}

describe('stages', () => {
  test('running every stage in order is model.forward, bit for bit', () => {
    for (const make of [() => resnet18({ numClasses: 5 }), () => mobilenetV2({ numClasses: 5, dropout: 0 })]) {
      manualSeed(1);
      const model = make();
      const stages = featureStages(model)!;
      const x = randn([2, 3, 32, 32]);
      for (const mode of ['train', 'eval'] as const) {
        mode === 'train' ? model.train() : model.eval();
        const [a, b] = tidy(() => noGrad(() => [model.call(x) as Tensor, runStages(stages, 0, stages.length, x)]));
        assert.deepEqual(bits(b!), bits(a!), `${model.constructor.name} ${mode}`);
      }
      model.dispose();
    }
  });
});

describe('the cut', () => {
  test('stops at a module whose forward may update its buffers (an observer, a running average)', () => {
    class Counting extends Module {
      constructor() {
        super();
        this.registerBuffer('seen', zeros([1]));
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Sequential(new Linear(4, 4), new Counting(), new Linear(4, 2));
    const view = { frozen: (n: string) => !n.startsWith('2.'), bnHeld: () => true, training: true };
    assert.deepEqual(findCut(m, featureStages(m)!, view), {
      cut: 1,
      stop: '1: Counting 1 keeps state its forward may update (seen)',
    });
    // a parameter-free prefix is not worth a cache
    const free = new Sequential(new ReLU(), new Linear(4, 2));
    assert.equal(findCut(free, featureStages(free)!, view).cut, 0);
  });
});

describe('the store', () => {
  test('rows come back by index, in the layout and dtype the prefix returned', () => {
    const store = new FeatureStore(5, { kind: 'memory' });
    tidy(() => {
      const a = aten('aten::contiguous')(randn([2, 3, 2, 2]), 2) as Tensor; // channels_last
      const b = randn([2, 3, 2, 2]);
      store.put([4, 1], a, tensor([4, 1], { dtype: 'int64' }));
      store.put([0, 2], b, tensor([0, 2], { dtype: 'int64' }));
      const { input, target } = store.gather([2, 4]);
      assert.deepEqual(input.strides(), a.strides());
      assert.deepEqual(bits(input.narrow(0, 0, 1)), bits(b.narrow(0, 1, 1)));
      assert.deepEqual(bits(input.narrow(0, 1, 1)), bits(a.narrow(0, 0, 1)));
      assert.deepEqual(target!.toArray(), [2, 4]);
    });
    assert.deepEqual([store.has(3), store.has(4), store.filled], [false, true, 4]);
    store.dispose();
  });
});

describe('a head-only phase from cached features', () => {
  test('same losses, eval losses and final weights as without the cache; later epochs load nothing', async () => {
    const phases = [{ epochs: 3, freeze: HEAD_ONLY }];
    const plain = await train(phases);
    const lines: string[] = [];
    const cached = await train(phases, { log: (l) => lines.push(l) });
    // the filling epoch runs the same ops; later epochs gather rows computed in other batches, which
    // CPU kernels make bit-identical here (same batch size, per-sample convolutions)
    assert.deepEqual(cached.losses, plain.losses);
    assert.deepEqual(cached.evalLosses, plain.evalLosses);
    assert.deepEqual(cached.state, plain.state);
    assert.equal(plain.loads, 9);
    assert.equal(cached.loads, 3, 'epochs 2 and 3 read no image');
    const st = cached.cache!.status('train');
    assert.equal(st.state, 'cached');
    assert.deepEqual([st.fills, st.served, st.rows, st.bytes], [1, 2, 24, 24 * 16 * 4]);
    assert.deepEqual(st.prefix, ['0', '1', '2', '3', '4', '5', '6', '7']);
    assert.equal(cached.cache!.status('val').served, 2);
    assert.ok(
      lines.some((l) => /^feature cache \(train\): on: 24 rows of \[16\] float32/.test(l)),
      lines.join('\n'),
    );
  });

  test('an unfreeze refills at the new cut and still matches the uncached run', async () => {
    const phases = [
      { epochs: 2, freeze: HEAD_ONLY },
      { epochs: 2, freeze: { freeze: '*', train: ['3', '4', '8'] } },
    ];
    const plain = await train(phases);
    const lines: string[] = [];
    const cached = await train(phases, { log: (l) => lines.push(l) });
    assert.deepEqual(cached.losses, plain.losses);
    assert.deepEqual(cached.state, plain.state);
    const st = cached.cache!.status('train');
    // 2 fills: epoch 1, and epoch 3 at the new cut; epochs 2 and 4 served
    assert.deepEqual([st.fills, st.served], [2, 2]);
    assert.deepEqual(st.prefix, ['0', '1', '2']);
    assert.ok(lines.some((l) => l.includes('refilling')));
  });

  test('a phase that ends mid-epoch and unfreezes: the loader takes over from that batch', async () => {
    // 3 batches per epoch: the head-only phase ends after the first batch of epoch 2
    const phases = [
      { steps: 4, freeze: HEAD_ONLY },
      { epochs: 1, freeze: 'none' as const },
    ];
    const plain = await train(phases);
    const cached = await train(phases, {});
    assert.deepEqual(cached.losses, plain.losses);
    assert.deepEqual(cached.state, plain.state);
    assert.equal(cached.loads, plain.loads - 1, 'only the first batch of epoch 2 came from the cache');
  });

  test('changed prefix weights refill the cache', async () => {
    const model = net();
    const runner = new PhaseRunner(model, spec([{ epochs: 3, freeze: HEAD_ONLY }]));
    const fc = new FeatureCache(model);
    const trainLoader = new DataLoader(images(16, 1), { batchSize: 8 });
    await fit({
      model,
      runner,
      train: fc.source(trainLoader, 'train'),
      forward: fc.forward(),
      progress: false,
      callbacks: [
        {
          afterEpoch: (t) => {
            if (t.epoch === 0) noGrad(() => model.at<Conv2d>(0).weight.mul_(1.5));
          },
        },
      ],
    });
    assert.deepEqual([fc.status('train').fills, fc.status('train').served], [2, 1]);
    runner.release();
  });

  test('disk storage gives the memory run; bf16 storage runs and says it is not exact', async () => {
    const phases = [{ epochs: 2, freeze: HEAD_ONLY }];
    const mem = await train(phases, {});
    const dir = mkdtempSync(join(tmpdir(), 'graft-fc-'));
    try {
      let during = false;
      const disk = await train(phases, {
        mode: 'disk',
        dir: join(dir, 'cache'),
        log: () => {
          during ||= existsSync(join(dir, 'cache', 'features-train.bin'));
        },
      });
      assert.ok(during, 'the rows went to a file in the cache folder');
      assert.deepEqual(disk.losses, mem.losses);
      assert.equal(disk.cache!.status('train').kind, 'disk');
      disk.cache!.dispose();
      assert.ok(!existsSync(join(dir, 'cache')), 'dispose removes the file and the folder it made');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const lines: string[] = [];
    const bf = await train(phases, { dtype: 'bfloat16', log: (l) => lines.push(l) });
    assert.equal(bf.cache!.status('train').bytes, 24 * 16 * 2);
    assert.ok(lines.some((l) => l.includes('results differ slightly')));
    for (let i = 0; i < mem.losses.length; i++) assert.ok(Math.abs(bf.losses[i]! - mem.losses[i]!) < 1e-2);
  });
});

describe('when the prefix is not deterministic the cache stays off and says why', () => {
  test('random augmentation', async () => {
    const ds = images(16, 1).withTransforms([
      T.randomHorizontalFlip(),
      T.normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25]),
    ]);
    const lines: string[] = [];
    const run = await train([{ epochs: 2, freeze: HEAD_ONLY }], { log: (l) => lines.push(l) }, ds);
    const st = run.cache!.status('train');
    assert.equal(st.state, 'off');
    assert.match(st.reason!, /train transforms are random \(randomHorizontalFlip\)/);
    assert.equal(run.loads, 4, 'both epochs load');
    assert.equal(run.cache!.status('val').state, 'cached', 'the validation transforms are fixed');
    assert.ok(lines.some((l) => l.startsWith('feature cache (train): off: the train transforms are random')));
  });

  test('BatchNorm whose running statistics move (bn freeze-affine) ends the prefix', async () => {
    const phases = [{ epochs: 2, freeze: { ...HEAD_ONLY, bn: 'freeze-affine' as const } }];
    const plain = await train(phases);
    const run = await train(phases, {});
    const st = run.cache!.status('train');
    // only the convolution before it is cached; the BatchNorm runs (and updates its statistics) every epoch
    assert.deepEqual(st.prefix, ['0']);
    assert.equal(st.stop, '1: BatchNorm 1 runs in train mode (its running statistics move)');
    assert.deepEqual(run.losses, plain.losses);
    assert.deepEqual(run.state, plain.state);
    const first = await train(
      [{ epochs: 1, freeze: { freeze: '*', train: '3', bn: 'freeze-affine' as const } }],
      {},
      undefined,
      () => new Sequential(new BatchNorm2d(3), new Conv2d(3, 4, 3), new Flatten(), new Linear(4 * 14 * 14, 3)),
    );
    assert.equal(first.cache!.status('train').state, 'off');
    assert.match(first.cache!.status('train').reason!, /no frozen prefix to cache \(0: BatchNorm 0 runs in train mode/);
  });

  test('dropout in the prefix; a dropout after the cut is fine', async () => {
    const run = async (model: Module, train: string) => {
      manualSeed(0);
      const x = randn([12, 6]);
      const y = tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2], { dtype: 'int64' });
      const fc = new FeatureCache(model);
      const runner = new PhaseRunner(model, spec([{ epochs: 2, freeze: { freeze: '*', train } }]));
      await fit({
        model,
        runner,
        train: fc.source(new DataLoader(new TensorDataset(x, y), { batchSize: 4, shuffle: true }), 'train'),
        forward: fc.forward(),
        progress: false,
      });
      return fc.status('train');
    };
    const early = await run(new Sequential(new Dropout(0.5), new Linear(6, 6), new ReLU(), new Linear(6, 3)), '3');
    assert.equal(early.state, 'off');
    assert.match(early.reason!, /Dropout 0 is active in training/);
    const late = await run(new Sequential(new Linear(6, 6), new ReLU(), new Dropout(0.5), new Linear(6, 3)), '3');
    assert.equal(late.state, 'cached');
    assert.deepEqual(late.prefix, ['0', '1']);
  });
});
