// One rank of the data-parallel tests (started by _ddp_run.ts with the torchrun variables set):
//   node --import tsx _ddp_worker.ts MODE OUT.json
// MODE 'train' | 'eval' trains this rank's half of each batch and writes its final state;
// 'die' / 'hang': rank 1 exits / stops answering at its second batch, rank 0 reports the error.
import { writeFileSync } from 'node:fs';
import { DataParallel, envFromProcess, fitDistributed, initProcessGroup } from '../../src/dist/index.ts';
import { GraftError } from '../../src/errors.ts';
import { setNumThreads } from '../../src/tensor/index.ts';
import type { Callback } from '../../src/train/index.ts';
import { bnEval, type Mode, setup, share, stateOf } from './_ddp_common.ts';

const [mode, out] = process.argv.slice(2) as [Mode | 'die' | 'hang', string];
setNumThreads(1);
const env = envFromProcess()!;
// the ranks start at their own pace (a busy machine took over 3 s): with a short timeout under test,
// meet with a generous one first, then open the group under test once every rank is up
const meet = process.env.TIMEOUT_MS ? await initProcessGroup({ ...env, timeoutMs: 60_000 }) : undefined;
await meet?.barrier();
const pg = await initProcessGroup({
  ...env,
  masterPort: meet ? Number(process.env.TEST_PORT2) : env.masterPort,
  timeoutMs: Number(process.env.TIMEOUT_MS ?? 30_000),
});
await meet?.destroy();
const { model, batches, runner } = setup(mode === 'eval' ? 'eval' : 'train');
const ddp = new DataParallel(model, pg);
const fault: Callback = {
  beforeBatch: async (t) => {
    if (pg.rank !== 1 || t.batchIndex !== 1) return;
    if (mode === 'die') process.exit(7);
    // longer than the timeout, then back: the peer is gone by then
    if (mode === 'hang') await new Promise((r) => setTimeout(r, Number(process.env.TIMEOUT_MS) + 5000));
  },
};
const t0 = Date.now();
try {
  await fitDistributed(
    {
      model,
      runner,
      train: share(batches, pg.rank, pg.worldSize),
      seed: 0,
      progress: false,
      callbacks: mode === 'eval' ? [bnEval] : mode === 'train' ? [] : [fault],
    },
    { pg, ddp },
  );
  writeFileSync(out, JSON.stringify({ rank: pg.rank, state: stateOf(model), reduced: ddp.reducedParameters }));
  await pg.destroy();
} catch (e) {
  const code = e instanceof GraftError ? e.code : 'raw';
  writeFileSync(
    out,
    JSON.stringify({ rank: pg.rank, error: { code, message: String((e as Error).message) }, ms: Date.now() - t0 }),
  );
  process.exit(2);
}
