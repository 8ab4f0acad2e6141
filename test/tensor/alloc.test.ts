// graft's caching CPU allocator (GRAFT_ALLOCATOR=caching, opt-in; the arena is the default): freed tensor buffers are handed out
// again (hits), the cap bounds what is kept, emptyCache gives it back, a steady step stops missing, and
// results are bit-identical to libtorch's own allocator. The allocator is chosen when the addon
// loads, so each case runs in a fresh process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allocatorSettingFromEnv, DEFAULT_ALLOCATOR_MIN } from '../../src/binding/malloc.ts';
import { ArgumentError } from '../../src/errors.ts';
import { allocatorStats, arenaStats, emptyCache, runtimeSettings, smallCacheStats } from '../../src/tensor/index.ts';
import { childJson } from './_child.ts';

const MiB = 2 ** 20;

// a seeded conv + linear training step: its loss and gradient sums, printed exactly
const STEP = `
  const t = await import('./src/tensor/index.ts');
  const nn = await import('./src/nn/index.ts');
  t.manualSeed(3);
  const conv = new nn.Conv2d(3, 8, 3, { padding: 1 });
  const fc = new nn.Linear(8 * 32 * 32, 5);
  const x = t.randn([4, 3, 32, 32]);
  const y = t.randint(0, 5, [4]);
  const results = [];
  const misses = [];
  for (let i = 0; i < 3; i++) {
    t.tidy(() => {
      const loss = t.crossEntropy(fc.call(conv.call(x).relu().flatten(1)), y);
      loss.backward();
      results.push(loss.item(), conv.weight.grad.sum().item(), fc.weight.grad.abs().sum().item());
      for (const p of [...conv.parameters(), ...fc.parameters()]) p.zeroGrad();
    });
    misses.push(t.allocatorStats().misses);
  }
`;

const child = (env: Record<string, string>, body: string) => childJson('GRAFT_ALLOCATOR', env, body);

test('GRAFT_ALLOCATOR parsing: unset is arena, caching takes a cap and a minimum, bad values are errors', () => {
  assert.deepEqual(allocatorSettingFromEnv({}, 8 * 1024 * MiB), {
    mode: 'arena',
    capBytes: 2 * 1024 * MiB,
    minBytes: DEFAULT_ALLOCATOR_MIN,
    trimBytes: 1024 * MiB,
  });
  assert.deepEqual(
    allocatorSettingFromEnv({ GRAFT_ALLOCATOR: 'caching', GRAFT_ALLOCATOR_CAP: '3G', GRAFT_ALLOCATOR_MIN: '1M' }, 0),
    { mode: 'caching', capBytes: 3 * 1024 * MiB, minBytes: MiB, trimBytes: 1024 * MiB },
  );
  assert.deepEqual(allocatorSettingFromEnv({ GRAFT_ALLOCATOR: ' Malloc ', GRAFT_MALLOC_TRIM_THRESHOLD: '8M' }, 0), {
    mode: 'malloc',
    capBytes: 0,
    minBytes: DEFAULT_ALLOCATOR_MIN,
    trimBytes: 8 * MiB,
  });
  assert.throws(() => allocatorSettingFromEnv({ GRAFT_ALLOCATOR: 'jemalloc' }, 0), ArgumentError);
  assert.throws(() => allocatorSettingFromEnv({ GRAFT_ALLOCATOR_CAP: 'half' }, 0), /GRAFT_ALLOCATOR_CAP=half/);
});

test('this process: the arena allocates (GRAFT_ALLOCATOR unset), the cache is idle', () => {
  if (process.env.GRAFT_ALLOCATOR) return;
  assert.equal(runtimeSettings().allocator.mode, 'arena');
  assert.equal(runtimeSettings().allocator.active, true);
  const s = allocatorStats();
  assert.equal(s.caching, false);
  assert.equal(s.hits + s.misses, 0);
  // without the caching allocator, emptyCache releases the small-block cache (alloc_small.test.ts)
  // and the arena's free blocks (alloc_arena.test.ts)
  const expected = smallCacheStats().cachedBytes + arenaStats().freeBytes;
  assert.equal(emptyCache(), expected);
});

test('caching: a freed buffer is reused, small ones bypass, the cap bounds the cache, emptyCache frees it', () => {
  const out = child(
    { GRAFT_ALLOCATOR: 'caching', GRAFT_ALLOCATOR_CAP: '3M', GRAFT_ALLOCATOR_MIN: '64K' },
    `
    const t = await import('./src/tensor/index.ts');
    const s0 = t.allocatorStats();
    // 10 times the same 1 MiB buffer: one miss, then hits
    for (let i = 0; i < 10; i++) t.zeros([256 * 1024]).dispose();
    const reuse = t.allocatorStats();
    // small buffers go to the small-block allocator and are not counted here
    for (let i = 0; i < 10; i++) t.zeros([100]).dispose();
    const small = t.allocatorStats();
    // five 1 MiB buffers alive at once, then freed: only 3 MiB may stay cached
    const many = Array.from({ length: 5 }, () => t.zeros([256 * 1024]));
    for (const m of many) m.dispose();
    const capped = t.allocatorStats();
    // another shape misses and is cached too, within the cap: 3 MiB of 1 MiB blocks leave it no room
    t.zeros([640 * 1024]).dispose();
    const shaped = t.allocatorStats();
    const smallKept = t.smallCacheStats().cachedBytes;
    const released = t.emptyCache();
    const emptied = t.allocatorStats();
    console.log(JSON.stringify({ s0, reuse, small, capped, shaped, smallKept, released, emptied, settings: t.runtimeSettings().allocator }));
  `,
  );
  assert.equal(out.settings.mode, 'caching');
  assert.equal(out.settings.active, true);
  assert.equal(out.reuse.caching, true);
  assert.equal(out.reuse.misses - out.s0.misses, 1);
  assert.equal(out.reuse.hits - out.s0.hits, 9);
  assert.equal(out.small.hits + out.small.misses, out.reuse.hits + out.reuse.misses);
  assert.equal(out.capped.cachedBytes, 3 * MiB);
  assert.equal(out.capped.overflows - out.small.overflows, 2);
  assert.equal(out.capped.liveBytes, out.s0.liveBytes);
  assert.ok(out.capped.peakBytes >= 5 * MiB);
  assert.equal(out.shaped.misses - out.capped.misses, 1);
  assert.equal(out.shaped.overflows - out.capped.overflows, 1);
  assert.equal(out.shaped.cachedBytes, 3 * MiB);
  // small buffers went to the small-block cache, which emptyCache empties too
  assert.ok(out.smallKept > 0);
  assert.equal(out.released, out.shaped.cachedBytes + out.smallKept);
  assert.equal(out.emptied.cachedBytes, 0);
  assert.equal(out.emptied.cachedBlocks, 0);
});

test('caching: a training step gives bit-identical results to libtorch allocator, reusing buffers', () => {
  const body = `${STEP} console.log(JSON.stringify({ results, misses, stats: t.allocatorStats() }));`;
  const plain = child({ GRAFT_ALLOCATOR: 'malloc' }, body);
  const cached = child({ GRAFT_ALLOCATOR: 'caching' }, body);
  assert.deepEqual(cached.results, plain.results);
  assert.equal(plain.stats.caching, false);
  // after the first step every buffer of a step comes from the cache
  assert.ok(cached.stats.hits > 0);
  assert.equal(cached.misses[2], cached.misses[1], `misses after each step: ${cached.misses}`);
});
