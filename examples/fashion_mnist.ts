// `npm run demo`: take a MobileNetV2 pretrained on ImageNet (shipped inside the nsfwjs npm
// package), graft a new 10-class head onto it, fine-tune it on Fashion-MNIST in two phases
// (head only, then everything with discriminative learning rates: fastai's fine_tune), and run
// the same recipe from random initialisation. Prints the plan, progress and both test accuracies.
//
// Environment: DEMO_TRAIN (default 4000 images), DEMO_TEST (2000), DEMO_SIZE (64 px),
// DEMO_OUT (runs/demo), DEMO_LOG_EVERY (optimizer steps per metrics.jsonl step record, 10). Data: Debian's dataset-fashion-mnist (MIT), installed by `npm run setup`.
import { join } from 'node:path';
import { data, finetune, getNumThreads, manualSeed, models, type nn, train } from '../src/index.ts';

const N_TRAIN = Number(process.env.DEMO_TRAIN ?? 4000);
const N_TEST = Number(process.env.DEMO_TEST ?? 2000);
const SIZE = Number(process.env.DEMO_SIZE ?? 64);
const OUT = process.env.DEMO_OUT ?? join('runs', 'demo');
const LOG_EVERY = Number(process.env.DEMO_LOG_EVERY ?? 10);
const BATCH = 32;

// MobileNetV2 from Keras expects 3 channels scaled to [-1, 1]
const transforms = [data.T.grayscale(3), data.T.resize([SIZE, SIZE]), data.T.normalize([0.5], [0.5])];
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const trainSet = data.fashionMnist({ train: true, transforms }).subset(range(N_TRAIN));
const testSet = data.fashionMnist({ train: false, transforms }).subset(range(N_TEST));
const classes = data.FASHION_MNIST_CLASSES;
const stepsPerEpoch = Math.floor(N_TRAIN / BATCH);

interface Outcome {
  name: string;
  accuracy: number;
  seconds: number;
  outDir: string;
}

async function run(name: string, describe: string, build: () => nn.Module): Promise<Outcome> {
  // Seed before the model is built: a new head's random initialisation draws from libtorch's
  // generator, which (as in PyTorch) starts from a different seed in every process.
  manualSeed(0);
  const model = build();
  const spec = finetune.fineTune(model, { epochs: 1, freezeEpochs: 1, stepsPerEpoch, baseLr: 2e-3, lrMult: 10 });
  console.log(`\n=== ${name}: ${describe}`);
  if (name === 'pretrained') console.log(finetune.plan(model, spec, { stepsPerEpoch }).text);
  const runner = new finetune.PhaseRunner(model, spec);
  const outDir = join(OUT, name);
  const t0 = Date.now();
  const result = await train.fit({
    model,
    runner,
    train: new data.DataLoader(trainSet, { batchSize: BATCH, shuffle: true, seed: 0, dropLast: true }),
    valid: new data.DataLoader(testSet, { batchSize: 100 }),
    outDir,
    overwrite: true, // the demo replaces its previous runs
    seed: 0,
    classNames: [...classes],
    monitor: 'eval.accuracy',
    logEvery: LOG_EVERY,
    info: { model: 'mobilenet_v2', recipe: `fastai fine_tune, ${describe}` },
  });
  const accuracy = Number(result.metrics['eval.accuracy'] ?? Number.NaN);
  return { name, accuracy, seconds: (Date.now() - t0) / 1000, outDir: result.outDir ?? outDir };
}

console.log(
  `graft demo: Fashion-MNIST, ${N_TRAIN} training and ${N_TEST} test images at ${SIZE}px, ` +
    `MobileNetV2 with a new 10-class head, ${getNumThreads()} threads`,
);
const outcomes = [
  await run('pretrained', 'ImageNet backbone from nsfwjs', () => {
    const { model, report } = models.pretrained('mobilenet_v2', { numClasses: classes.length });
    console.log(
      `pretrained weights: ${report.source}; ${report.renamed.length} tensors loaded, new: ${report.missing.join(', ')}`,
    );
    return model;
  }),
];
outcomes.push(
  await run('scratch', 'random initialisation, same recipe', () => {
    const scratch = models.create('mobilenet_v2', { numClasses: classes.length });
    models.useKerasConventions(scratch); // the same architecture, random weights
    return scratch;
  }),
);

console.log('\n                 test accuracy   time');
for (const o of outcomes)
  console.log(`  ${o.name.padEnd(14)} ${o.accuracy.toFixed(4).padStart(13)}   ${o.seconds.toFixed(0)} s`);
const [a, b] = outcomes as [Outcome, Outcome];
console.log(`\npretrained is ${((a.accuracy - b.accuracy) * 100).toFixed(1)} points ahead of training from scratch.`);
console.log(`reports: ${join(a.outDir, 'report.html')}, ${join(b.outDir, 'report.html')}`);
