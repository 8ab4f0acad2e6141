// One rank of reducer.test.ts: trains the shared tiny models under DataParallel and reports
// their state after each scenario.
import { DataParallel, envFromProcess, initProcessGroup } from '../../src/dist/index.ts';
import type * as nn from '../../src/nn/index.ts';
import { noGrad } from '../../src/tensor/index.ts';
import { batch, cnn, half, loss, mlp, sgd, snapshot } from './_reducer_common.ts';
import { report } from './_spawn.ts';

const env = envFromProcess()!;
const pg = await initProcessGroup({ ...env, timeoutMs: 10_000 });
const rank = pg.rank;

function step(model: nn.Module, opt: ReturnType<typeof sgd>, s: number, image: boolean): void {
  const { x, y } = batch(s, image);
  opt.zeroGrad();
  loss(model, half(x, rank), half(y, rank)).backward();
  opt.step();
}

// 1. an MLP; rank 1 starts from other weights, which sync() replaces with rank 0's
{
  const model = mlp(rank === 0 ? 1 : 2);
  const ddp = new DataParallel(model, pg);
  await ddp.sync();
  const opt = sgd(model);
  for (let s = 0; s < 4; s++) step(model, opt, s, false);
  report({ scenario: 'mlp', state: snapshot(model) });
  ddp.dispose();
}

// 1b. the same run with buckets of ~100 bytes: after the first step (one bucket, as torch) the
// buckets are rebuilt in gradient order and each is allreduced while backward goes on
{
  const model = mlp(1);
  const ddp = new DataParallel(model, pg, { bucketCapMB: 1e-4, firstBucketMB: 1e-4 });
  await ddp.sync();
  const opt = sgd(model);
  for (let s = 0; s < 4; s++) step(model, opt, s, false);
  report({ scenario: 'buckets', state: snapshot(model) });
  ddp.dispose();
}

// 2. a CNN with BatchNorm: statistics per rank, rank 0's buffers broadcast before each forward
{
  const model = cnn(3);
  const ddp = new DataParallel(model, pg);
  await ddp.sync();
  const opt = sgd(model);
  for (let s = 0; s < 3; s++) step(model, opt, s, true);
  report({ scenario: 'cnn', state: snapshot(model) });
  ddp.dispose();
}

// 3. a frozen first layer is never communicated: rank 1 moves it after sync() and it stays moved
{
  const model = mlp(4);
  const first = model.getSubmodule('0') as nn.Linear;
  first.requiresGrad_(false);
  const ddp = new DataParallel(model, pg);
  await ddp.sync();
  if (rank === 1) noGrad(() => first.weight.add_(1));
  const opt = sgd(model);
  for (let s = 0; s < 2; s++) step(model, opt, s, false);
  report({
    scenario: 'frozen',
    reduced: ddp.reducedParameters,
    weight: first.weight.toArray(),
    gradDefined: first.weight.grad !== undefined,
  });
  ddp.dispose();
}

// 4. freeze, train, unfreeze: rebuild() makes the layer join the averaging
{
  const model = mlp(6);
  const first = model.getSubmodule('0') as nn.Linear;
  first.requiresGrad_(false);
  const ddp = new DataParallel(model, pg);
  await ddp.sync();
  const opt = sgd(model);
  for (let s = 0; s < 2; s++) step(model, opt, s, false);
  first.requiresGrad_(true);
  ddp.rebuild();
  const opt2 = sgd(model);
  for (let s = 2; s < 5; s++) step(model, opt2, s, false);
  report({ scenario: 'unfreeze', reduced: ddp.reducedParameters, state: snapshot(model) });
  ddp.dispose();
}

// 5. gradient accumulation: two micro-batches per step, the first under noSync
{
  const model = mlp(5);
  const ddp = new DataParallel(model, pg);
  await ddp.sync();
  const opt = sgd(model);
  let syncingInside = true;
  for (let s = 0; s < 3; s++) {
    const { x, y } = batch(s, false);
    const mx = half(x, rank);
    const my = half(y, rank);
    opt.zeroGrad();
    ddp.noSync(() => {
      syncingInside = ddp.syncing;
      loss(model, half(mx, 0), half(my, 0)).backward();
    });
    loss(model, half(mx, 1), half(my, 1)).backward();
    opt.step();
  }
  report({ scenario: 'accumulate', syncingInside, state: snapshot(model) });
  ddp.dispose();
}

await pg.destroy();
