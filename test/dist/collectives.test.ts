// c10d collectives through graft on 2 real processes (Gloo over loopback), the torchrun
// environment contract, and the errors of a bad rendezvous.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import { availableBackends, envFromProcess, initProcessGroup } from '../../src/dist/index.ts';
import { DistError } from '../../src/errors.ts';
import { freePort, runRanks } from './_spawn.ts';

test('allreduce / broadcast / allgather / reduceScatter / barrier give the right values on 2 ranks', async () => {
  const ranks = await runRanks('./_collectives_worker.ts', ['values', '5000']);
  for (const r of ranks) assert.equal(r.code, 0, `rank ${r.rank} failed:\n${r.stderr}`);
  const [a, b] = ranks.map((r) => r.results[0]);
  for (const [rank, v] of [a, b].entries()) {
    // rank r holds [r+1, -3(r+1), 0.5+r]
    assert.deepEqual(v.sum, [3, -9, 2]);
    assert.deepEqual(v.avg, [1.5, -4.5, 1]);
    assert.deepEqual(v.max, [2, -3, 1.5]);
    assert.deepEqual(v.min, [1, -6, 0.5]);
    assert.deepEqual(v.product, [2, 18, 0.75]);
    // float32 (a transposed view), int64 and float64 in one call, written back into each tensor
    assert.deepEqual(v.multi, [[3, 6, 9, 12, 15, 18], [1, 20], [0.1 + 0.2]]);
    assert.deepEqual(v.broadcast, [[1, 1, 1], [10]]);
    assert.deepEqual(v.allgather, [
      [0, 100],
      [1, 101],
    ]);
    // inputs [1+r, 2+r] and [3(r+1), 4(r+1)]: rank 0 gets the sum of the first, rank 1 of the second
    assert.deepEqual(v.reduceScatter, rank === 0 ? [3, 5] : [9, 12]);
    assert.equal(v.avgInt, 'GRAFT_ARGS');
  }
  // rank 1 came to the barrier 500 ms late: rank 0's event loop kept running meanwhile
  assert.ok(a.ticksDuringBarrier >= 10, `timer ticked ${a.ticksDuringBarrier} times`);
});

describe('torchrun environment', () => {
  const base = {
    RANK: '1',
    WORLD_SIZE: '4',
    LOCAL_RANK: '1',
    LOCAL_WORLD_SIZE: '2',
    MASTER_ADDR: 'node0',
    MASTER_PORT: '29500',
  };
  test('reads the contract, or undefined for a single process', () => {
    assert.deepEqual(envFromProcess(base), {
      rank: 1,
      worldSize: 4,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'node0',
      masterPort: 29500,
    });
    assert.equal(envFromProcess({}), undefined);
    const { LOCAL_RANK: _, LOCAL_WORLD_SIZE: __, ...noLocal } = base;
    assert.deepEqual(envFromProcess({ ...noLocal, RANK: '3' }), {
      rank: 3,
      worldSize: 4,
      localRank: 3,
      localWorldSize: 4,
      masterAddr: 'node0',
      masterPort: 29500,
    });
  });
  test('Slurm variables stand in for RANK and WORLD_SIZE', () => {
    const e = envFromProcess({
      SLURM_PROCID: '5',
      SLURM_NTASKS: '8',
      SLURM_LOCALID: '1',
      SLURM_NTASKS_PER_NODE: '4(x2)',
      MASTER_ADDR: 'n0',
      MASTER_PORT: '1234',
    });
    assert.deepEqual(e, { rank: 5, worldSize: 8, localRank: 1, localWorldSize: 4, masterAddr: 'n0', masterPort: 1234 });
  });
  test('a missing or bad variable is named', () => {
    const bad = (env: Record<string, string>, re: RegExp) =>
      assert.throws(
        () => envFromProcess(env),
        (e: unknown) => e instanceof DistError && e.code === 'GRAFT_DIST_ENV' && re.test(e.message),
      );
    const { MASTER_PORT: _, ...noPort } = base;
    bad(noPort, /MASTER_PORT is not set/);
    bad({ ...base, RANK: '4' }, /RANK="4" is not a whole number from 0 to 3/);
    bad({ ...base, WORLD_SIZE: 'two' }, /WORLD_SIZE="two"/);
    bad({ ...base, MASTER_PORT: '70000' }, /MASTER_PORT="70000"/);
    bad({ ...base, LOCAL_RANK: '-1' }, /LOCAL_RANK/);
  });
});

describe('rendezvous errors', () => {
  const rejects = async (p: Promise<unknown>, code: string, re: RegExp) => {
    const t0 = Date.now();
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof DistError, String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, re);
      assert.equal(e.op, 'init');
      return true;
    });
    return Date.now() - t0;
  };

  test('a port in use', async () => {
    const srv = createServer();
    const port = await new Promise<number>((res) => srv.listen(0, () => res((srv.address() as { port: number }).port)));
    try {
      const ms = await rejects(
        initProcessGroup({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 5000 }),
        'GRAFT_DIST_ADDRESS',
        /port is in use.*Address already in use/,
      );
      assert.ok(ms < 4000, `took ${ms} ms`);
    } finally {
      srv.close();
    }
  });

  test('an address that does not resolve', async () => {
    await rejects(
      initProcessGroup({
        rank: 1,
        worldSize: 2,
        masterAddr: 'no-such-host.invalid',
        masterPort: 29500,
        timeoutMs: 2000,
      }),
      'GRAFT_DIST_ADDRESS',
      /'no-such-host.invalid' does not resolve/,
    );
  });

  test('a rank that never arrives: a timeout, not a hang', async () => {
    const port = await freePort();
    const ms = await rejects(
      initProcessGroup({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 1000 }),
      'GRAFT_DIST_TIMEOUT',
      /rank 0 of 2 .*within 1000 ms/,
    );
    assert.ok(ms < 15_000, `took ${ms} ms`);
  });

  test('bad arguments and a backend this libtorch lacks', async () => {
    const o = { masterAddr: '127.0.0.1', masterPort: 29500 };
    await assert.rejects(initProcessGroup({ ...o, rank: 2, worldSize: 2 }), /rank must be a whole number from 0 to 1/);
    if (!availableBackends().includes('nccl'))
      await assert.rejects(initProcessGroup({ ...o, rank: 0, worldSize: 1, backend: 'nccl' }), (e: unknown) => {
        assert.ok(e instanceof DistError);
        assert.match(e.message, /backend 'nccl' is not in this libtorch/);
        return true;
      });
  });

  test('a world of one: collectives are the identity', async () => {
    const pg = await initProcessGroup({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() });
    const { fromArray } = await import('../../src/tensor/index.ts');
    const t = fromArray(Float32Array.from([1, 2]), [2]);
    await pg.allreduce(t, 'avg');
    assert.deepEqual(t.toArray(), [1, 2]);
    await pg.destroy();
    await assert.rejects(pg.barrier(), /destroyed/);
  });
});
