// One rank of the collectives tests (started by collectives.test.ts / faults.test.ts).
import { DataParallel, envFromProcess, initProcessGroup } from '../../src/dist/index.ts';
import { Linear } from '../../src/nn/index.ts';
import { fromArray, type Tensor } from '../../src/tensor/index.ts';
import { report } from './_spawn.ts';

const scenario = process.argv[2];
const env = envFromProcess()!;
const timeoutMs = Number(process.argv[3] ?? 3000);
// the ranks start at their own pace (a busy machine): meet with a generous timeout first, then
// open the group under test, with the short timeout, once every rank is up
const meet = await initProcessGroup({ ...env, timeoutMs: 60_000 });
await meet.barrier();
const pg = await initProcessGroup({ ...env, masterPort: Number(process.env.TEST_PORT2), timeoutMs });
await meet.destroy();
const r = pg.rank;
const f32 = (v: number[], shape = [v.length]) => fromArray(Float32Array.from(v), shape);

if (scenario === 'values') {
  const out: Record<string, unknown> = {};
  for (const op of ['sum', 'avg', 'max', 'min', 'product'] as const) {
    const t = f32([r + 1, -3 * (r + 1), 0.5 + r]);
    await pg.allreduce(t, op);
    out[op] = t.toArray();
  }
  // several tensors of two dtypes, one of them not contiguous, in one call
  const a = f32([1, 2, 3, 4, 5, 6], [2, 3]).mul(r + 1);
  const aT = a.transpose(0, 1);
  const i = fromArray(BigInt64Array.from([BigInt(r), 10n]), [2], { dtype: 'int64' });
  const d = fromArray(Float64Array.from([0.1 * (r + 1)]), [1], { dtype: 'float64' });
  await pg.allreduce([aT, i, d], 'sum');
  out.multi = [a.toArray(), i.toArray(), d.toArray()];
  const b = f32([r, r, r]);
  const c = f32([10 * r]);
  await pg.broadcast([b, c], 1);
  out.broadcast = [b.toArray(), c.toArray()];
  out.allgather = (await pg.allgather(f32([r, 100 + r]))).map((t) => t.toArray());
  out.reduceScatter = (await pg.reduceScatter([f32([1, 2]).add(r), f32([3, 4]).mul(r + 1)], 'sum')).toArray();
  // the event loop runs while a collective waits: in step after a first barrier, rank 1 then
  // comes to the second one 500 ms late, and rank 0's timer ticks meanwhile
  await pg.barrier();
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  if (r === 1) await new Promise((res) => setTimeout(res, 500));
  await pg.barrier();
  clearInterval(timer);
  out.ticksDuringBarrier = ticks;
  try {
    await pg.allreduce(fromArray(Int32Array.from([1]), [1], { dtype: 'int32' }), 'avg');
  } catch (e) {
    out.avgInt = (e as { code: string }).code;
  }
  report(out);
} else if (scenario === 'peer-exits') {
  // a DataParallel backward, then a plain collective, after the other rank exited
  const model = new Linear(3, 2);
  const ddp = new DataParallel(model, pg);
  await ddp.sync();
  await pg.barrier();
  if (r === 1) process.exit(0);
  const t0 = Date.now();
  try {
    (model.call(f32([1, 2, 3], [1, 3])) as Tensor).sum().backward();
    report({ error: null });
  } catch (e) {
    const err = (await ddp.toDistError(e)) as { code: string; op: string; message: string; ranks: number[] };
    report({ error: err.code, op: err.op, message: err.message, ranks: err.ranks, ms: Date.now() - t0 });
  }
  const t1 = Date.now();
  try {
    await pg.allreduce(f32([1]), 'sum');
    report({ error: null });
  } catch (e) {
    const err = e as { code: string; op: string; message: string; ranks: number[] };
    report({ error: err.code, op: err.op, message: err.message, ranks: err.ranks, ms: Date.now() - t1 });
  }
} else if (scenario === 'peer-hangs') {
  await pg.barrier();
  if (r === 1) {
    // alive but never joins the next collective (a hung rank)
    await new Promise((res) => setTimeout(res, timeoutMs + 4000));
    process.exit(0);
  }
  const t0 = Date.now();
  try {
    await pg.allreduce(f32([1]), 'sum');
    report({ error: null });
  } catch (e) {
    const err = e as { code: string; op: string; message: string; ranks: number[] };
    report({ error: err.code, op: err.op, message: err.message, ranks: err.ranks, ms: Date.now() - t0 });
  }
  process.exit(0);
}
await pg.destroy();
