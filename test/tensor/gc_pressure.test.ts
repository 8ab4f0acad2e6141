// Garbage the JS wrappers do not show: a loop without tidy() whose results keep autograd graphs
// alive (what a model's output does until GC) holds native memory far larger than the handles'
// own bytes. V8 must still hear of it (native/common.cc: the malloc heap's in-use troughs), or it
// collects only for its own heap's sake and the native heap grows meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { dispose, mallocInfo, randn, tidy } from '../../src/tensor/index.ts';

const MB = 1024 * 1024;
const inUse = () => {
  const m = mallocInfo();
  return m.heapBytes - m.freeBytes + m.mmapBytes;
};

test('a loop without tidy() whose results hold graphs stays within a few MB', { timeout: 180_000 }, async (t) => {
  if (!mallocInfo().glibc) return t.skip('heap sampling needs glibc');
  const w = randn([1024]).requiresGrad_();
  const x = randn([1024]);
  const m = randn([80, 80]);
  // relu saves its 4 KB output for backward: the graph of each 4-byte result holds it, and the
  // handle made inside tidy() is gone, so the bytes are nowhere but in the graph
  const leaky = () =>
    tidy(() => {
      m.matmul(m); // the rest of a step's work: garbage comes at a training loop's pace
      return w.mul(x).relu().sum();
    });
  for (let i = 0; i < 200; i++) leaky();
  // a heap with room to spare, as after a step's activations were freed (graft's malloc settings keep
  // it): garbage that fits in it does not grow the heap, and must count all the same
  dispose(Array.from({ length: 64 }, () => randn([256, 1024])));
  await nextTurn();
  const start = inUse();
  const growth: number[] = [];
  const n = 14_000; // 56 MB of graphs if GC never ran
  for (let i = 1; i <= n; i++) {
    leaky();
    if (i % 20 === 0) {
      growth.push(inUse() - start);
      await nextTurn(); // a loop that awaits its data: finalizers run here
    }
  }
  // the median, not the peak: on a loaded machine one collection may come late. Measured on a loaded
  // 2-core machine: 11-15 MB with the heap sampling of native/common.cc, 21-27 MB without it (V8
  // then collects only for its own heap's sake)
  const median = growth.sort((a, b) => a - b)[growth.length >> 1]!;
  t.diagnostic(
    `in-use growth median ${(median / MB).toFixed(1)} MB, peak ${(growth.at(-1)! / MB).toFixed(1)} MB over ${n} steps`,
  );
  assert.ok(median < 18 * MB, `the native heap grew ${(median / MB).toFixed(1)} MB (median) before GC collected`);
});
