// A view left to GC frees no memory while its base lives, so V8 must not hear of its bytes: counted,
// each 2.4 MB view of a kept batch (what a loop that slices its data makes every step) told V8 of
// 2.4 MB more garbage, and V8 ran a major collection every few steps for memory that did not exist.
import assert from 'node:assert/strict';
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { randn } from '../../src/tensor/index.ts';

async function majorGcsDuring(loop: () => Promise<void>): Promise<number> {
  let majors = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[])
      if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
  });
  obs.observe({ entryTypes: ['gc'] });
  await loop();
  await new Promise((r) => setTimeout(r, 50)); // gc entries are delivered asynchronously
  obs.disconnect();
  return majors;
}

test('views of a live tensor left to GC do not drive major collections; fresh tensors still do', async () => {
  const batch = randn([16, 3, 112, 112]).keep(); // 2.4 MB, as a training batch
  const views = await majorGcsDuring(async () => {
    for (let i = 0; i < 300; i++) {
      batch.view([16, -1]); // 720 MB if each view counted its base's bytes
      if (i % 10 === 9) await nextTurn();
    }
  });
  assert.ok(views <= 2, `views of a live tensor caused ${views} major collections`);
  // the same loop making tensors that own their bytes must still make V8 collect: the check above
  // would pass trivially if no handle's bytes reached V8 at all
  const owned = await majorGcsDuring(async () => {
    for (let i = 0; i < 300; i++) {
      batch.mul(2);
      if (i % 10 === 9) await nextTurn();
    }
  });
  assert.ok(owned >= 3, `tensors owning 720 MB caused only ${owned} major collections`);
  batch.dispose();
});
