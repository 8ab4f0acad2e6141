// A rank that exits or hangs makes the other's collective reject, naming the collective, within
// the group timeout: never a silent hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runRanks } from './_spawn.ts';

const TIMEOUT_MS = 2000;

test("a rank that exits: the other's backward and collectives fail with GRAFT_DIST_PEER at once", async () => {
  const ranks = await runRanks('./_collectives_worker.ts', ['peer-exits', String(TIMEOUT_MS)]);
  assert.equal(ranks[0]!.code, 0, ranks[0]!.stderr);
  const [bwd, coll] = ranks[0]!.results;
  assert.equal(bwd.error, 'GRAFT_DIST_PEER', bwd.message);
  assert.equal(bwd.op, 'backward (gradient allreduce)');
  assert.match(bwd.message, /^backward \(gradient allreduce\) on rank 0 of 2: another rank exited.*; rank 1 is gone/);
  assert.deepEqual(bwd.ranks, [1]);
  assert.equal(coll.error, 'GRAFT_DIST_PEER', coll.message);
  assert.equal(coll.op, 'allreduce');
  assert.match(coll.message, /^allreduce on rank 0 of 2: another rank exited.*; rank 1 is gone \(heartbeat stopped\)/);
  assert.deepEqual(coll.ranks, [1]);
  // found at once, plus about a second of watching the heartbeats
  assert.ok(coll.ms < TIMEOUT_MS + 1000, `took ${coll.ms} ms`);
});

test('a rank that hangs: the other rejects with GRAFT_DIST_TIMEOUT within the timeout', async () => {
  const ranks = await runRanks('./_collectives_worker.ts', ['peer-hangs', String(TIMEOUT_MS)]);
  const r0 = ranks[0]!.results[0];
  assert.equal(r0.error, 'GRAFT_DIST_TIMEOUT', r0.message);
  assert.equal(r0.op, 'allreduce');
  assert.match(r0.message, new RegExp(`within ${TIMEOUT_MS} ms.*every rank still has a heartbeat: one is hung`));
  assert.deepEqual(r0.ranks, []);
  assert.ok(r0.ms >= TIMEOUT_MS - 100 && r0.ms < TIMEOUT_MS + 4000, `took ${r0.ms} ms`);
});
