// The small-block allocator (native/alloc_small.cc, on by default): tensor buffers up to 16 KiB come
// from per-thread free lists of 64-byte-aligned blocks in size classes (64-byte steps to 1 KiB, then
// four a doubling). A freed buffer is handed out again for any size of its class, a larger size
// misses, the per-thread cap bounds the free blocks, emptyCache gives them back, frees on another
// thread are safe, GRAFT_SMALL_CACHE=0 turns it off, and results are the same bytes either way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SMALL_CACHE, smallCacheFromEnv } from '../../src/binding/malloc.ts';
import { ArgumentError } from '../../src/errors.ts';
import { native } from '../../src/tensor/_core.ts';
import { emptyCache, smallCacheStats, zeros } from '../../src/tensor/index.ts';
import { childJson } from './_child.ts';

/** hits and misses of this process while fn runs */
function counted(fn: () => void): { hits: number; misses: number } {
  const s0 = smallCacheStats();
  fn();
  const s1 = smallCacheStats();
  return { hits: s1.hits - s0.hits, misses: s1.misses - s0.misses };
}
const bytes = (n: number) => zeros([n], { dtype: 'uint8' });

const child = (env: Record<string, string>, body: string) => childJson('GRAFT_SMALL', env, body);

test('GRAFT_SMALL_CACHE parsing: unset is 1 MiB, sizes take units, 0 is off, bad values are errors', () => {
  assert.equal(smallCacheFromEnv({}), DEFAULT_SMALL_CACHE);
  assert.equal(DEFAULT_SMALL_CACHE, 1024 * 1024);
  assert.equal(smallCacheFromEnv({ GRAFT_SMALL_CACHE: '4M' }), 4 * 1024 * 1024);
  assert.equal(smallCacheFromEnv({ GRAFT_SMALL_CACHE: '0' }), 0);
  assert.throws(() => smallCacheFromEnv({ GRAFT_SMALL_CACHE: 'lots' }), ArgumentError);
  assert.throws(() => smallCacheFromEnv({ GRAFT_SMALL_CACHE: '2G' }), /GRAFT_SMALL_CACHE=2G/);
});

test('on by default: a freed block serves any size of its class, a size past the class edge misses', () => {
  if (process.env.GRAFT_SMALL_CACHE) return;
  const s = smallCacheStats();
  assert.equal(s.capBytes, DEFAULT_SMALL_CACHE);
  assert.equal(s.maxBlockBytes, 16384);
  emptyCache();
  // [lo, hi] of one class: a block freed for hi serves lo; hi + 1 is the next class
  for (const [lo, hi] of [
    [1, 64],
    [65, 128],
    [961, 1024],
    [1025, 1280],
    [1281, 1536],
    [14337, 16384],
  ] as const) {
    bytes(hi).dispose();
    assert.deepEqual(
      counted(() => bytes(lo).dispose()),
      { hits: 1, misses: 0 },
      `${lo} bytes from the block of ${hi}`,
    );
    emptyCache();
    bytes(hi).dispose();
    assert.deepEqual(
      counted(() => bytes(hi + 1).dispose()),
      { hits: 0, misses: hi + 1 <= 16384 ? 1 : 0 },
      `${hi + 1} bytes: the next class`,
    );
  }
  // 0 bytes and above 16 KiB: not the small allocator's
  assert.deepEqual(
    counted(() => {
      bytes(0).dispose();
      bytes(16385).dispose();
      bytes(100_000).dispose();
    }),
    { hits: 0, misses: 0 },
  );
});

test('blocks are 64-byte aligned and hold their data; the values are what libtorch computes', () => {
  const ts = [1, 3, 63, 64, 65, 1000, 1025, 5000, 16384].map((n) => bytes(n).add(n % 251));
  for (const t of ts) {
    assert.equal(native.dataPtr(t.h) % 64, 0, `${t.numel()} bytes`);
    const want = t.numel() % 251;
    assert.ok(
      t.toArray().every((v) => v === want),
      `${t.numel()} bytes`,
    );
  }
  for (const t of ts) t.dispose();
});

test('emptyCache frees this thread’s blocks and returns their bytes', () => {
  const ts = Array.from({ length: 10 }, () => bytes(1000));
  for (const t of ts) t.dispose();
  const before = smallCacheStats().cachedBytes;
  assert.ok(before >= 10 * 1024);
  assert.ok(emptyCache() >= before);
  assert.equal(smallCacheStats().cachedBytes, 0);
});

test('frees on another thread: made there and freed here, made here and freed there', () => {
  const threads = smallCacheStats().threads;
  assert.equal(native.smallCacheThreadCheck(200, 700), true);
  assert.equal(native.smallCacheThreadCheck(50, 16384), true);
  // the helper threads exited: their caches were freed with them
  assert.equal(smallCacheStats().threads, threads);
});

test('the cap bounds the free blocks a thread keeps; frees past it go to free()', () => {
  const out = child(
    { GRAFT_SMALL_CACHE: '4K' },
    `
    const t = await import('./src/tensor/index.ts');
    const ts = Array.from({ length: 10 }, () => t.zeros([1000], { dtype: 'uint8' }));
    t.emptyCache();
    const s0 = t.smallCacheStats();
    for (const x of ts) x.dispose();
    const s1 = t.smallCacheStats();
    console.log(JSON.stringify({ cap: s1.capBytes, cached: s1.cachedBytes, overflows: s1.overflows - s0.overflows }));
    `,
  );
  assert.deepEqual(out, { cap: 4096, cached: 4096, overflows: 6 });
});

test('GRAFT_SMALL_CACHE=0: off (libtorch allocates), the same bytes as with it', () => {
  const body = `
    const t = await import('./src/tensor/index.ts');
    t.manualSeed(5);
    const x = t.randn([8, 64]), w = t.randn([32, 64]), b = t.randn([32]);
    const y = t.F.linear(x, w, b).add(x.sum()).mul(0.5);
    const s = t.smallCacheStats();
    console.log(JSON.stringify({ bytes: Array.from(y.bytes()), used: s.hits + s.misses, cap: s.capBytes }));
  `;
  const on = child({}, body);
  const off = child({ GRAFT_SMALL_CACHE: '0' }, body);
  assert.ok(on.used > 0);
  assert.equal(off.used, 0);
  assert.equal(off.cap, 0);
  assert.deepEqual(off.bytes, on.bytes);
});
