// A rank that dies or hangs: the other one stops with a DistError within the timeout (3 s here),
// never a silent hang.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runWorkers } from './_ddp_run.ts';

const TIMEOUT_MS = 3000;

test('a rank that exits mid-run: the other fails with an error naming the collective, itself and the lost rank', async () => {
  const [r0, r1] = await runWorkers('die', { env: { TIMEOUT_MS: String(TIMEOUT_MS) } });
  assert.equal(r1!.code, 7);
  assert.equal(r0!.code, 2, r0!.stderr);
  const err = r0!.json!.error!;
  assert.match(err.code, /^GRAFT_DIST/);
  assert.match(err.message, /on rank 0 of 2/);
  assert.match(err.message, /rank 1 is gone/);
  // found well within the timeout (plus the run's own few seconds)
  assert.ok(r0!.ms - r1!.ms < TIMEOUT_MS + 2000, `rank 0 ended ${r0!.ms - r1!.ms} ms after rank 1`);
});

test('a rank that hangs: the other fails when the timeout runs out', async () => {
  const [r0, r1] = await runWorkers('hang', { env: { TIMEOUT_MS: String(TIMEOUT_MS) } });
  assert.equal(r0!.code, 2, r0!.stderr);
  const err = r0!.json!.error!;
  assert.equal(err.code, 'GRAFT_DIST_TIMEOUT', err.message);
  assert.match(err.message, new RegExp(`within ${TIMEOUT_MS} ms`));
  // rank 0's wait from the hang to its error is the timeout, not the hang's length
  assert.ok(r0!.json!.ms! < TIMEOUT_MS + 15_000, `took ${r0!.json!.ms} ms`);
  // the hung rank notices its peer gone once it comes back to a collective, or is left to its launcher
  assert.ok(r1!.code !== 0);
});
