// One rank of syncbn.test.ts: the BatchNorm net trained under DataParallel on this rank's half of
// each world batch, with SyncBatchNorm ('sync') or plain per-rank BatchNorm ('plain'); 'fault':
// rank 1 leaves before the first forward, rank 0 reports the error its SyncBatchNorm gave.
import { convertSyncBatchNorm, DataParallel, envFromProcess, initProcessGroup } from '../../src/dist/index.ts';
import { DistError } from '../../src/errors.ts';
import { report } from './_spawn.ts';
import { bnNet, rows, STEPS, sgd, stateOf, trainStep, worldBatch } from './_syncbn_common.ts';

const mode = process.argv[2] as 'sync' | 'plain' | 'fault';
const env = envFromProcess()!;
const pg = await initProcessGroup({ ...env, timeoutMs: mode === 'fault' ? 4000 : 20_000 });
const model = bnNet();
if (mode !== 'plain') convertSyncBatchNorm(model, pg);
// (fault: no buffer broadcast before forward, so the SyncBatchNorm's allgather is the first to fail)
const ddp = new DataParallel(model, pg, { broadcastBuffers: mode !== 'fault' });
await ddp.sync();
const opt = sgd(model);
if (mode === 'fault') {
  if (pg.rank === 1) process.exit(3);
  const t0 = Date.now();
  try {
    const { x, y } = worldBatch(0);
    trainStep(model, opt, rows(x, 0, 2), rows(y, 0, 2));
    report({ error: null });
  } catch (e) {
    const d = e instanceof DistError ? await pg.explain(e) : e;
    report({
      error: { code: (d as DistError).code, message: (d as Error).message, ranks: (d as DistError).ranks },
      ms: Date.now() - t0,
    });
  }
  process.exit(0);
}
const losses: number[] = [];
for (let s = 0; s < STEPS; s++) {
  const { x, y } = worldBatch(s);
  losses.push(trainStep(model, opt, rows(x, pg.rank, 2), rows(y, pg.rank, 2)));
}
model.eval();
const { x } = worldBatch(99);
const evalOut = Array.from(
  (model.call(rows(x, pg.rank, 2)) as import('../../src/tensor/index.ts').Tensor).data() as Float32Array,
);
report({ state: stateOf(model), losses, evalOut, kinds: [...model.modules()].map((m) => m.constructor.name) });
ddp.dispose();
await pg.destroy();
