// DistributedSampler against torch.utils.data.DistributedSampler's own index lists
// (scripts/fixtures/dist_sampler_fixtures.py), and the resume-in-samples guarantees built on it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { batchIndices, DataLoader, DistributedSampler, TensorDataset } from '../../src/data/index.ts';
import { tensor } from '../../src/tensor/index.ts';
import { torchRandperm } from '../../src/util/torch_generator.ts';

interface Case {
  n: number;
  world: number;
  epoch: number;
  seed: number;
  shuffle: boolean;
  drop_last: boolean;
  ranks: number[][];
}
const fx = JSON.parse(readFileSync(new URL('../fixtures/data/distributed_sampler.json', import.meta.url), 'utf8')) as {
  cases: Case[];
  randperm: { n: number; seed: number; head: number[]; tail: number[]; weighted_sum: number }[];
};

test('torch.randperm with a seeded torch.Generator, number for number', () => {
  for (const c of fx.randperm) {
    const p = torchRandperm(c.n, BigInt(c.seed));
    assert.deepEqual(p.slice(0, 50), c.head, `n ${c.n} seed ${c.seed}`);
    assert.deepEqual(p.slice(-50), c.tail, `n ${c.n} seed ${c.seed}`);
    assert.equal(
      p.reduce((s, v, i) => s + v * i, 0),
      c.weighted_sum,
    );
  }
});

test("every rank's indices equal torch's DistributedSampler (shuffle, padding, drop_last, set_epoch)", () => {
  for (const c of fx.cases)
    for (let rank = 0; rank < c.world; rank++) {
      const s = new DistributedSampler(c.n, {
        worldSize: c.world,
        rank,
        shuffle: c.shuffle,
        seed: c.seed,
        dropLast: c.drop_last,
      });
      s.setEpoch(c.epoch);
      const what = `n ${c.n} world ${c.world} rank ${rank} epoch ${c.epoch} drop_last ${c.drop_last}`;
      assert.deepEqual(s.order(), c.ranks[rank], what);
      assert.equal(s.length, c.ranks[rank]!.length, what);
    }
});

test('a resume at a sample offset goes on with the samples not yet seen, for any world size', () => {
  const n = 23;
  const seen = (world: number, from: number, epoch: number) =>
    Array.from({ length: world }, (_, r) =>
      new DistributedSampler(n, { worldSize: world, rank: r, seed: 3 }).order(epoch, from),
    );
  // two ranks, batch 2 per rank: after 3 steps, 12 samples of the world's order are used
  const before = seen(2, 0, 1).map((o) => o.slice(0, 6));
  const global = new DistributedSampler(n, { worldSize: 1, rank: 0, seed: 3 }).order(1);
  assert.deepEqual(
    [...before.flat()].sort((a, b) => a - b),
    global.slice(0, 12).sort((a, b) => a - b),
  );
  // same world: exactly what the uninterrupted ranks would have seen next
  const full = seen(2, 0, 1);
  const resumed = seen(2, 12, 1);
  for (let r = 0; r < 2; r++) assert.deepEqual(resumed[r], full[r]!.slice(6));
  // three ranks now: the 11 samples left, each once, and one pad that repeats the epoch's first
  const rest = seen(3, 12, 1).flat();
  const expected = [...global.slice(12), global[0]!];
  assert.deepEqual(
    [...rest].sort((a, b) => a - b),
    expected.sort((a, b) => a - b),
  );
  assert.throws(() => new DistributedSampler(4, { worldSize: 2, rank: 2 }), /rank 2 of worldSize 2/);
});

test('the DataLoader over a DistributedSampler resumes mid-epoch at the same batches', async () => {
  const ds = new TensorDataset(
    tensor(
      Array.from({ length: 13 }, (_, i) => i),
      { dtype: 'float32' },
    ).reshape([13, 1]),
  );
  const sampler = new DistributedSampler(13, { worldSize: 2, rank: 1, seed: 7 });
  const loader = new DataLoader(ds, { batchSize: 3, sampler });
  const all: number[][] = [];
  for await (const b of loader.iterate({ epoch: 2 })) {
    all.push(b.indices);
    b.dispose();
  }
  assert.deepEqual(all, batchIndices(sampler.order(2), 3));
  const tail: number[][] = [];
  for await (const b of loader.iterate({ epoch: 2, startBatch: 1 })) {
    tail.push(b.indices);
    b.dispose();
  }
  assert.deepEqual(tail, all.slice(1));
});
