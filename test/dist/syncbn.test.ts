// SyncBatchNorm on 2 ranks over loopback Gloo. PyTorch 1.13's SyncBatchNorm refuses CPU tensors,
// so the reference is its definition: one process running plain BatchNorm on the whole
// (concatenated) batch. After a few SGD steps both ranks hold that process's parameters and
// running statistics to float rounding; without SyncBatchNorm they do not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertSyncBatchNorm, SyncBatchNorm, syncBatchNorms } from '../../src/dist/index.ts';
import * as nn from '../../src/nn/index.ts';
import { setNumThreads } from '../../src/tensor/index.ts';
import { runRanks } from './_spawn.ts';
import { bnNet, STEPS, sgd, stateOf, trainStep, worldBatch } from './_syncbn_common.ts';

function wholeBatchReference(): Record<string, number[]> {
  setNumThreads(1);
  const model = bnNet();
  const opt = sgd(model);
  for (let s = 0; s < STEPS; s++) {
    const { x, y } = worldBatch(s);
    trainStep(model, opt, x, y);
  }
  return stateOf(model);
}

const worst = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));

test('SyncBatchNorm on 2 ranks: parameters and running statistics of one process on the whole batch', async () => {
  const [r0, r1] = await runRanks('./_syncbn_worker.ts', ['sync']);
  for (const r of [r0!, r1!]) assert.equal(r.code, 0, r.stderr);
  const a = r0!.results[0];
  const b = r1!.results[0];
  assert.deepEqual(
    a.kinds.filter((k: string) => k.includes('Norm')),
    ['SyncBatchNorm', 'SyncBatchNorm'],
  );
  const ref = wholeBatchReference();
  for (const [k, v] of Object.entries(ref)) {
    assert.ok(worst(a.state[k], v) < 2e-5, `rank 0 ${k}: off by ${worst(a.state[k], v)} from the whole batch`);
    assert.ok(worst(b.state[k], v) < 2e-5, `rank 1 ${k}: off by ${worst(b.state[k], v)} from the whole batch`);
  }
  assert.deepEqual(a.state['1.num_batches_tracked'], [STEPS]);
  // each rank's loss is over its own half; their mean is the whole batch's
  assert.equal(a.losses.length, STEPS);
});

test('without SyncBatchNorm the same run is not the whole-batch one (so the test above can fail)', async () => {
  const [r0, r1] = await runRanks('./_syncbn_worker.ts', ['plain']);
  for (const r of [r0!, r1!]) assert.equal(r.code, 0, r.stderr);
  const ref = wholeBatchReference();
  const a = r0!.results[0].state;
  assert.ok(worst(a['0.weight'], ref['0.weight']!) > 1e-4, 'per-rank statistics gave the whole-batch conv weights');
  assert.ok(worst(a['1.running_var'], ref['1.running_var']!) > 1e-3, 'per-rank running variance is the global one');
});

test('a rank gone before a SyncBatchNorm forward: the other fails naming it, within the timeout', async () => {
  const [r0, r1] = await runRanks('./_syncbn_worker.ts', ['fault']);
  assert.equal(r1!.code, 3);
  assert.equal(r0!.code, 0, r0!.stderr);
  const { error, ms } = r0!.results[0];
  assert.ok(error, 'the forward did not fail');
  assert.match(error.code, /^GRAFT_DIST_(PEER|TIMEOUT)$/);
  assert.match(error.message, /SyncBatchNorm forward on rank 0 of 2/);
  assert.match(error.message, /rank 1 is gone/);
  assert.ok(ms < 10_000, `took ${ms} ms`);
});

test('convertSyncBatchNorm keeps the tensors, the state-dict keys and the mode; eval and alone = BatchNorm', () => {
  setNumThreads(1);
  const model = bnNet();
  const before = [...model.stateDict().keys()];
  const weight = (model.getSubmodule('1') as nn.BatchNorm2d).weight;
  model.eval();
  const { x } = worldBatch(0);
  const plain = Array.from(model.call(x).data() as Float32Array);
  const same = convertSyncBatchNorm(model);
  assert.equal(same, model);
  assert.equal(syncBatchNorms(model).length, 2);
  assert.equal((model.getSubmodule('1') as SyncBatchNorm).weight, weight, 'the parameter was copied, not kept');
  assert.deepEqual([...model.stateDict().keys()], before);
  assert.equal(model.getSubmodule('5').training, false);
  assert.equal(
    String(model.getSubmodule('5')),
    'SyncBatchNorm(5, eps=1e-05, momentum=0.3, affine=False, track_running_stats=True)',
  );
  assert.deepEqual(Array.from(model.call(x).data() as Float32Array), plain);
  // a BatchNorm alone becomes a SyncBatchNorm; without a group it trains as BatchNorm
  const bn = new nn.BatchNorm1d(5);
  const s = convertSyncBatchNorm(bn);
  assert.ok(s instanceof SyncBatchNorm && !s.syncing);
});
