// One rank of resume_world.test.ts: a tiny net (with a SyncBatchNorm) trained over torch's
// DistributedSampler order of 60 samples whose first feature is the sample's index, so each step
// can say which samples it consumed.
//   node --import tsx _resume_worker.ts BATCH OUT_DIR STOP_AFTER_STEP RESUME
// STOP_AFTER_STEP 0: train to the end; RESUME 1: go on from OUT_DIR's last checkpoint.
import { DataLoader, DistributedSampler, TensorDataset } from '../../src/data/index.ts';
import {
  convertSyncBatchNorm,
  DataParallel,
  envFromProcess,
  fitDistributed,
  initProcessGroup,
} from '../../src/dist/index.ts';
import { PhaseRunner } from '../../src/finetune/index.ts';
import * as nn from '../../src/nn/index.ts';
import { arange, cat, manualSeed, randint, randn, setNumThreads, type Tensor } from '../../src/tensor/index.ts';
import type { Callback } from '../../src/train/index.ts';
import { report } from './_spawn.ts';

export const SAMPLES = 60;
const [batch, outDir, stopAfter, resume] = process.argv.slice(2);
setNumThreads(1);
const env = envFromProcess()!;
const pg = await initProcessGroup({ ...env, timeoutMs: 20_000 });

manualSeed(21);
const ids = arange(SAMPLES).float().reshape([SAMPLES, 1]);
const x = cat([ids.div(SAMPLES), randn([SAMPLES, 5])], 1);
const y = randint(0, 3, [SAMPLES]);
const model = new nn.Sequential(new nn.Linear(6, 8), new nn.BatchNorm1d(8), new nn.ReLU(), new nn.Linear(8, 3));
convertSyncBatchNorm(model, pg);
const sampler = new DistributedSampler(SAMPLES, { worldSize: pg.worldSize, rank: pg.rank, seed: 5 });
const train = new DataLoader(new TensorDataset(x, y), { batchSize: Number(batch), sampler });
const runner = new PhaseRunner(model, { optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 }, phases: [{ epochs: 2 }] });

// the samples of each step on this rank, by step number
const seen: { epoch: number; step: number; samples: number[] }[] = [];
let pending: number[] = [];
const recorder: Callback = {
  beforeBatch: (t) => {
    const col = (t.batch!.input as Tensor).narrow(1, 0, 1).flatten();
    pending = Array.from(col.data() as Float32Array, (v) => Math.round(v * SAMPLES));
  },
  afterBatch: (t) => {
    seen.push({ epoch: t.epoch, step: t.step, samples: pending });
    if (Number(stopAfter) > 0 && t.step === Number(stopAfter)) t.requestStop('test: stop here');
  },
};
const ddp = new DataParallel(model, pg);
const result = await fitDistributed(
  {
    model,
    runner,
    train,
    seed: 0,
    progress: false,
    outDir,
    overwrite: resume !== '1',
    resume: resume === '1',
    checkpoint: { everySteps: 1 },
    report: false,
    export: false,
    callbacks: [recorder],
  },
  { pg, ddp, sampler },
);
const state: Record<string, number[]> = {};
for (const [k, t] of model.stateDict()) state[k] = Array.from(t.data() as ArrayLike<number>, Number);
report({ rank: pg.rank, seen, state, steps: result.steps });
ddp.dispose();
await pg.destroy();
