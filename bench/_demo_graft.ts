// What the PyTorch side of the demo row (bench/demo_torch.py) needs to run `npm run demo`'s recipe
// (examples/fashion_mnist.ts) as graft runs it, written by graft's own code into a folder:
//   pretrained.pth, scratch.pth   each model's state dict as the demo builds it (manualSeed(0), then
//                                 the nsfwjs ImageNet weights or a random init, Keras conventions),
//                                 written with graft's torch.save writer, so both sides start equal
//   recipe.json                   the data subset and transforms, batch size, the optimizer and its
//                                 12 parameter groups (names, max lr, weight decay), each phase's
//                                 frozen parameters and OneCycleLR settings, the shuffle order of every
//                                 epoch and the seed graft's trainer sets before every batch
// Usage: node --import tsx bench/_demo_graft.ts OUT_DIR  (DEMO_TRAIN, DEMO_TEST, DEMO_SIZE as the demo)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { data, finetune, manualSeed, models, type nn } from '../src/index.ts';
import { PyOrderedDict, writePth } from '../src/io/index.ts';
import { tensorToRaw } from '../src/io/tensors.ts';
import { Rng } from '../src/util/rng.ts';

const out = process.argv[2];
if (!out) throw new Error('usage: node --import tsx bench/_demo_graft.ts OUT_DIR');
// the demo's settings and defaults (examples/fashion_mnist.ts)
const N_TRAIN = Number(process.env.DEMO_TRAIN ?? 4000);
const N_TEST = Number(process.env.DEMO_TEST ?? 2000);
const SIZE = Number(process.env.DEMO_SIZE ?? 64);
const BATCH = 32;
const EVAL_BATCH = 100;
const SEED = 0;
const stepsPerEpoch = Math.floor(N_TRAIN / BATCH);
const options = { epochs: 1, freezeEpochs: 1, stepsPerEpoch, baseLr: 2e-3, lrMult: 10 };

const builds: Record<string, () => nn.Module> = {
  pretrained: () => models.pretrained('mobilenet_v2', { numClasses: 10 }).model,
  scratch: () => {
    const m = models.create('mobilenet_v2', { numClasses: 10 });
    models.useKerasConventions(m);
    return m;
  },
};

mkdirSync(out, { recursive: true });
let recipe: Record<string, unknown> | undefined;
for (const [name, build] of Object.entries(builds)) {
  manualSeed(0); // as the demo: before the model is built
  const model = build();
  writePth(join(out, `${name}.pth`), new PyOrderedDict([...model.stateDict()].map(([k, t]) => [k, tensorToRaw(t)])));
  if (recipe) continue;
  // the recipe is the same for both runs: read it from graft's own phase runner
  const spec = finetune.fineTune(model, options);
  const runner = new finetune.PhaseRunner(model, spec);
  const names = new Map([...model.namedParameters()].map(([n, p]) => [p, n]));
  const phases = spec.phases.map((p, i) => {
    runner.onEpochStart(i); // one epoch per phase in this recipe
    const set = typeof p.lr === 'object' && 'set' in p.lr ? (p.lr.set as Record<string, number>) : undefined;
    return {
      name: p.name,
      epochs: p.epochs,
      frozen: [...model.namedParameters()].filter(([, q]) => !q.requiresGrad).map(([n]) => n),
      // OneCycleLR's max_lr per group: the group's lr when the phase starts
      maxLr: runner.groups.groups.map((g) => set?.[g.group] ?? g.lr),
      scheduler: p.scheduler,
    };
  });
  const groups = runner.optimizer.paramGroups.map((g, i) => ({
    name: runner.groups.groups[i]!.name,
    params: g.params.map((p) => names.get(p)!),
    weight_decay: g.weight_decay,
  }));
  const perm = (epoch: number) => new data.RandomSampler(N_TRAIN, { seed: SEED }).order(epoch);
  const batchSeeds = (epoch: number) =>
    Array.from({ length: stepsPerEpoch }, (_, b) => new Rng(SEED, 'batch', epoch, b).nextU32());
  recipe = {
    data: {
      dir: data.FASHION_MNIST_DIR,
      train: N_TRAIN,
      test: N_TEST,
      size: SIZE,
      batch: BATCH,
      evalBatch: EVAL_BATCH,
    },
    transforms: 'grayscale(3), resize([size, size]) bilinear (Pillow), normalize([0.5], [0.5])',
    keras: { bnEps: 1e-3, stride2PadRightBottom: 1 },
    stepsPerEpoch,
    optimizer: spec.optimizer,
    groups,
    phases,
    bn: spec.bn,
    orders: phases.map((_, e) => perm(e)),
    batchSeeds: phases.map((_, e) => batchSeeds(e)),
  };
  runner.release();
}
writeFileSync(join(out, 'recipe.json'), `${JSON.stringify(recipe)}\n`);
console.log(`wrote ${Object.keys(builds).join('.pth, ')}.pth and recipe.json to ${out}`);
