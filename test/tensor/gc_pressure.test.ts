// Garbage the JS wrappers do not show: a loop without tidy() whose results keep autograd graphs
// alive (what a model's output does until GC) holds native memory far larger than the handles'
// own bytes. V8 must still hear of it (native/common.cc: the malloc heap's in-use troughs), or it
// collects only for its own heap's sake and the native heap grows meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { liveTensors, mallocInfo, randn, tidy } from '../../src/tensor/index.ts';

const MB = 1024 * 1024;
const inUse = () => {
  const m = mallocInfo();
  return m.heapBytes - m.freeBytes + m.mmapBytes;
};

test('a loop without tidy() whose results hold graphs stays within a few MB', { timeout: 60_000 }, async (t) => {
  if (!mallocInfo().glibc) return t.skip('heap sampling needs glibc');
  const w = randn([1024]).requiresGrad_();
  const x = randn([1024]);
  const m = randn([96, 96]);
  // relu saves its 4 KB output for backward: the graph of each 4-byte result holds it, and the
  // handle made inside tidy() is gone, so the bytes are nowhere but in the graph
  const leaky = () =>
    tidy(() => {
      m.matmul(m); // the rest of a step's work: garbage comes at a training loop's pace
      return w.mul(x).relu().sum();
    });
  for (let i = 0; i < 200; i++) leaky();
  await nextTurn();
  const start = inUse();
  let peak = 0;
  const n = 12_000; // 48 MB of graphs if GC never ran
  for (let i = 1; i <= n; i++) {
    leaky();
    if (i % 20 === 0) {
      peak = Math.max(peak, inUse() - start);
      await nextTurn(); // a loop that awaits its data: finalizers run here
    }
  }
  t.diagnostic(`peak in-use growth ${(peak / MB).toFixed(1)} MB over ${n} steps, ${liveTensors()} live tensors`);
  assert.ok(peak < 24 * MB, `the native heap grew ${(peak / MB).toFixed(1)} MB before GC collected the graphs`);
});
