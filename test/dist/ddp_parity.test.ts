// Two ranks on loopback (Gloo) against one process: after every step both ranks hold bit-identical
// parameters and buffers, equal bit for bit to one process that runs each batch's two halves
// separately (BatchNorm statistics per half) and averages their losses; with BatchNorm in eval mode,
// equal to one process on the whole batch up to float rounding. The run freezes the body for its
// first phase and unfreezes it after: the reduction follows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setNumThreads } from '../../src/tensor/index.ts';
import { fit } from '../../src/train/index.ts';
import { referenceOptions, stateOf } from './_ddp_common.ts';
import { runWorkers } from './_ddp_run.ts';

async function reference(mode: 'train' | 'eval', how: 'halves' | 'whole') {
  setNumThreads(1);
  const o = referenceOptions(mode, how);
  await fit(o);
  return stateOf(o.model);
}

test('2 ranks: identical on both, bit-identical to one process over the halves; frozen -> unfrozen', async () => {
  const [r0, r1] = await runWorkers('train');
  for (const r of [r0!, r1!]) assert.equal(r.code, 0, r.stderr || JSON.stringify(r.json?.error));
  const a = r0!.json!.state!;
  const b = r1!.json!.state!;
  // running statistics are rank 0's before each forward (broadcast, as torch's DDP); the last
  // forward's update stays on each rank, so only parameters must match
  const isStat = (k: string) => k.includes('running_') || k.endsWith('num_batches_tracked');
  for (const k of Object.keys(a)) if (!isStat(k)) assert.deepEqual(b[k], a[k], `${k}: the ranks differ`);
  // after the unfreeze every parameter is reduced, the body's included
  assert.deepEqual(r0!.json!.reduced, [
    'body.0.weight',
    'body.0.bias',
    'body.1.weight',
    'body.1.bias',
    'head.2.weight',
    'head.2.bias',
  ]);
  const ref = await reference('train', 'halves');
  for (const [k, v] of Object.entries(ref)) {
    // one process updated the running statistics with both halves
    if (isStat(k)) continue;
    assert.deepEqual(a[k], v, `${k} differs from one process over the halves`);
  }
  // the body trained in the second phase only: it moved from its initial weights
  const init = (await import('./_ddp_common.ts')).setup('train').model;
  assert.notDeepEqual(a['body.0.weight'], stateOf(init)['body.0.weight']);
});

test('2 ranks with BatchNorm in eval mode equal one process on the whole batch (float rounding)', async () => {
  const [r0, r1] = await runWorkers('eval');
  for (const r of [r0!, r1!]) assert.equal(r.code, 0, r.stderr || JSON.stringify(r.json?.error));
  assert.deepEqual(r1!.json!.state, r0!.json!.state, 'BatchNorm in eval mode: nothing differs between ranks');
  const ref = await reference('eval', 'whole');
  for (const [k, v] of Object.entries(ref)) {
    const got = r0!.json!.state![k]!;
    const worst = Math.max(...v.map((x, i) => Math.abs(x - got[i]!)));
    assert.ok(worst < 1e-5, `${k}: off by ${worst}`);
  }
});
