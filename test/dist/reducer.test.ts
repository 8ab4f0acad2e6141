// DataParallel on 2 real processes (Gloo over loopback) against one process that runs the two
// halves of each batch: parameters bit-identical on both ranks and equal to that reference.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DataParallel, initProcessGroup } from '../../src/dist/index.ts';
import { DistError } from '../../src/errors.ts';
import * as nn from '../../src/nn/index.ts';
import { randn, setNumThreads, type Tensor } from '../../src/tensor/index.ts';
import { batch, cnn, copyInto, half, loss, mlp, PER_RANK, sgd, snapshot } from './_reducer_common.ts';
import { freePort, runRanks } from './_spawn.ts';

setNumThreads(1);

/**
 * One process, both halves: the gradient of the mean of the two halves' losses, taken one half at
 * a time (BatchNorm saves its running statistics for backward, and they are swapped in between).
 */
function reference(model: nn.Module, steps: number[], image: boolean, opt = sgd(model)): void {
  const bufs = model.buffers();
  for (const s of steps) {
    const { x, y } = batch(s, image);
    opt.zeroGrad();
    // each rank normalises with its own half's statistics and starts from rank 0's buffers
    const before = bufs.map((b) => b.clone());
    loss(model, half(x, 0), half(y, 0)).mul(0.5).backward();
    const after0 = bufs.map((b) => b.clone());
    copyInto(bufs, before);
    loss(model, half(x, 1), half(y, 1)).mul(0.5).backward();
    copyInto(bufs, after0);
    opt.step();
  }
}

/** Accumulation: each rank sums its micro-batches' gradients, then the ranks average. */
function referenceAccumulate(model: nn.Module, steps: number[]): void {
  const opt = sgd(model);
  const params = model.parameters();
  for (const s of steps) {
    const { x, y } = batch(s, false);
    const perRank = [0, 1].map((r) => {
      opt.zeroGrad();
      const mx = half(x, r);
      const my = half(y, r);
      loss(model, half(mx, 0), half(my, 0)).backward();
      loss(model, half(mx, 1), half(my, 1)).backward();
      return params.map((p) => p.grad!.clone());
    });
    for (const [i, p] of params.entries()) p.grad = perRank[0]![i]!.mul(0.5).add(perRank[1]![i]!.mul(0.5));
    opt.step();
  }
}

test('DataParallel: 2 ranks bit-identical and equal to one process averaging the halves', async () => {
  assert.equal(PER_RANK % 2, 0);
  const ranks = await runRanks('./_reducer_worker.ts', []);
  for (const r of ranks) assert.equal(r.code, 0, `rank ${r.rank} failed:\n${r.stderr}`);
  const [r0, r1] = ranks.map((r) => Object.fromEntries(r.results.map((x) => [x.scenario, x])));

  // an MLP (rank 1 started from other weights: sync() gave it rank 0's)
  const m = mlp(1);
  reference(m, [0, 1, 2, 3], false);
  assert.deepEqual(r0!.mlp.state, r1!.mlp.state, 'mlp: ranks differ');
  assert.deepEqual(r0!.mlp.state, snapshot(m), 'mlp: ranks differ from the one-process reference');
  assert.deepEqual(r0!.buckets.state, r1!.buckets.state, 'small buckets: ranks differ');
  assert.deepEqual(r0!.buckets.state, snapshot(m), 'small buckets: ranks differ from the reference');

  // a CNN with BatchNorm in training mode: rank 0's running statistics match the reference's
  const c = cnn(3);
  reference(c, [0, 1, 2], true);
  const want = snapshot(c);
  const params = (s: Record<string, string>) =>
    Object.fromEntries(Object.entries(s).filter(([k]) => !/running|num_batches/.test(k)));
  assert.deepEqual(params(r0!.cnn.state), params(r1!.cnn.state), 'cnn: ranks differ');
  assert.deepEqual(r0!.cnn.state, want, 'cnn: rank 0 differs from the reference (parameters or BN statistics)');
  assert.notDeepEqual(
    r1!.cnn.state['1.running_mean'],
    r0!.cnn.state['1.running_mean'],
    'rank 1 keeps its own last statistics',
  );

  // frozen parameters are not reduced, not broadcast after sync(), and get no gradient
  assert.deepEqual(r0!.frozen.reduced, ['2.weight', '2.bias', '4.weight', '4.bias']);
  assert.equal(r0!.frozen.gradDefined, false);
  assert.equal(r1!.frozen.gradDefined, false);
  const w0 = r0!.frozen.weight as number[];
  const w1 = r1!.frozen.weight as number[];
  for (const [i, v] of w0.entries()) assert.ok(Math.abs(w1[i]! - v - 1) < 1e-6, 'rank 1 kept its own frozen weight');

  // freeze for 2 steps, unfreeze + rebuild for 3: the unfrozen layer joins the averaging
  const u = mlp(6);
  const first = u.getSubmodule('0');
  first.requiresGrad_(false);
  reference(u, [0, 1], false);
  first.requiresGrad_(true);
  reference(u, [2, 3, 4], false);
  assert.equal(r0!.unfreeze.reduced.length, 6);
  assert.deepEqual(r0!.unfreeze.state, r1!.unfreeze.state, 'unfreeze: ranks differ');
  assert.deepEqual(r0!.unfreeze.state, snapshot(u), 'unfreeze: ranks differ from the reference');

  // accumulation with noSync on the first micro-batch
  const a = mlp(5);
  referenceAccumulate(a, [0, 1, 2]);
  assert.equal(r0!.accumulate.syncingInside, false);
  assert.deepEqual(r0!.accumulate.state, r1!.accumulate.state, 'accumulate: ranks differ');
  assert.deepEqual(r0!.accumulate.state, snapshot(a), 'accumulate: ranks differ from the reference');
});

// a world of one process: the reducer's bookkeeping, without a second process
describe('DataParallel in one process', () => {
  class Partial extends nn.Module {
    used = this.registerModule('used', new nn.Linear(3, 2));
    unused = this.registerModule('unused', new nn.Linear(3, 2));
    forward(x: Tensor): Tensor {
      return this.used.call(x);
    }
  }
  const group = async () =>
    initProcessGroup({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() });
  const run = (m: nn.Module) => (m.call(randn([2, 3])) as Tensor).sum().backward();

  test('a parameter a forward skips is named; findUnusedParameters trains past it', async () => {
    const pg = await group();
    const m = new Partial();
    const ddp = new DataParallel(m, pg);
    assert.throws(() => run(m), /before ddp.sync\(\)/);
    await ddp.sync();
    run(m);
    assert.throws(
      () => run(m),
      (e: unknown) =>
        e instanceof DistError &&
        e.code === 'GRAFT_DIST_UNUSED' &&
        /no gradient to unused.weight, unused.bias/.test(e.message),
    );
    ddp.dispose();
    const m2 = new Partial();
    const ddp2 = new DataParallel(m2, pg, { findUnusedParameters: true });
    await ddp2.sync();
    for (let i = 0; i < 3; i++) run(m2);
    assert.ok(m2.used.weight.grad);
    assert.equal(m2.unused.weight.grad, undefined);
    // dispose() takes the hooks away: the module runs alone again
    ddp2.dispose();
    run(m2);
    await pg.destroy();
  });

  test('run() arms a forward that calls submodules itself; checkBackward() catches one that did not', async () => {
    const pg = await group();
    const m = new Partial();
    const ddp = new DataParallel(m, pg);
    await ddp.sync();
    const both = () =>
      m.used
        .call(randn([2, 3]))
        .add(m.unused.call(randn([2, 3])))
        .sum();
    // around the submodules' calls, the reducer waits for every gradient: the next forward is fine
    ddp.run(both).backward();
    ddp.checkBackward();
    ddp.run(both).backward();
    ddp.checkBackward();
    // the same forward without run(): nothing was averaged, and the check says so
    both().backward();
    assert.throws(
      () => ddp.checkBackward(),
      (e: unknown) => e instanceof DistError && /ran without a DataParallel forward/.test(e.message),
    );
    // accumulation without sync is not a miss
    ddp.noSync(() => both().backward());
    ddp.noSync(() => ddp.checkBackward());
    ddp.dispose();
    await pg.destroy();
  });

  test('nothing trainable: no reducer, forward and backward run as without it', async () => {
    const pg = await group();
    const m = new nn.Linear(3, 2);
    m.requiresGrad_(false);
    const ddp = new DataParallel(m, pg);
    await ddp.sync();
    assert.deepEqual(ddp.reducedParameters, []);
    m.call(randn([2, 3]));
    m.requiresGrad_(true);
    ddp.rebuild();
    assert.deepEqual(ddp.reducedParameters, ['weight', 'bias']);
    run(m);
    assert.ok(m.weight.grad);
    ddp.dispose();
    await pg.destroy();
  });
});
