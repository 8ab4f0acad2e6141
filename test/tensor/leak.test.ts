// Memory stays flat: RSS after 20,000 small ops and 200 conv train steps (forward, backward,
// in-place SGD update inside tidy) grows less than 64 MB after warm-up, and no tensor is left
// alive in the addon's table. Without tidy/dispose, the FinalizationRegistry frees tensors, but
// only when the event loop turns: a loop that never yields keeps every tensor until it does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  crossEntropy,
  F,
  linear,
  liveTensors,
  noGrad,
  randint,
  randn,
  type Tensor,
  tensor,
  tidy,
} from '../../src/tensor/index.ts';

const MB = 1024 * 1024;
const LIMIT = 64 * MB;

/** global.gc when node runs with --expose-gc, else the same function fetched through V8's flags. */
function getGc(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = getGc();

function settle(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().rss;
}

function smallOps(n: number, keep: { a: Tensor; b: Tensor }): void {
  // four ops per iteration; every other batch relies on dispose() instead of tidy()
  for (let i = 0; i < n / 4; i++) {
    if (i % 2 === 0)
      tidy(() => {
        keep.a.add(keep.b).mul(0.5).relu().sum();
      });
    else {
      const x = keep.a.add(keep.b);
      const y = x.mul(0.5);
      const z = y.relu();
      const s = z.sum();
      for (const t of [x, y, z, s]) t.dispose();
    }
  }
}

function makeNet() {
  const p = {
    w1: randn([8, 3, 3, 3]).mul(0.2),
    b1: randn([8]).mul(0.1),
    w2: randn([16, 8, 3, 3]).mul(0.1),
    b2: randn([16]).mul(0.1),
    w3: randn([10, 16]).mul(0.1),
    b3: randn([10]).mul(0.1),
  };
  for (const t of Object.values(p)) t.requiresGrad = true;
  return p;
}

function trainSteps(n: number, p: ReturnType<typeof makeNet>, x: Tensor, y: Tensor): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    loss = tidy(() => {
      let h = F.relu(F.conv2d(x, p.w1, p.b1, { padding: 1 }));
      h = F.maxPool2d(h, 2);
      h = F.relu(F.conv2d(h, p.w2, p.b2, { padding: 1 }));
      h = F.adaptiveAvgPool2d(h, 1).flatten(1);
      const l = crossEntropy(linear(h, p.w3, p.b3), y);
      l.backward();
      noGrad(() => {
        for (const t of Object.values(p)) {
          t.sub_(t.grad!.mul(0.05));
          t.zeroGrad();
        }
      });
      return l.item();
    });
  }
  return loss;
}

test('RSS stays flat over 20,000 small ops and 200 conv train steps', { timeout: 120_000 }, (t) => {
  const keep = { a: randn([64]), b: randn([64]) };
  const p = makeNet();
  const x = randn([8, 3, 16, 16]);
  const y = randint(0, 10, [8]);
  smallOps(4000, keep);
  const first = trainSteps(20, p, x, y);
  const before = settle();
  const liveBefore = liveTensors();
  const externalBefore = process.memoryUsage().external;
  smallOps(20_000, keep);
  const last = trainSteps(200, p, x, y);
  assert.equal(liveTensors(), liveBefore, 'tensors left alive by tidy()/dispose() loops');
  const after = settle();
  const externalAfter = process.memoryUsage().external;
  const grew = after - before;
  t.diagnostic(
    `rss ${(before / MB).toFixed(0)} -> ${(after / MB).toFixed(0)} MB, loss ${first.toFixed(3)} -> ${last.toFixed(3)}`,
  );
  assert.ok(last < first, `training should reduce the loss: ${first} -> ${last}`);
  assert.ok(
    grew < LIMIT,
    `RSS grew ${(grew / MB).toFixed(1)} MB (${(before / MB).toFixed(0)} -> ${(after / MB).toFixed(0)} MB)`,
  );
  assert.ok(
    externalAfter - externalBefore < 8 * MB,
    `V8 external memory grew ${((externalAfter - externalBefore) / MB).toFixed(1)} MB`,
  );
  for (const t of Object.values(p)) assert.equal(t.grad, undefined);
});

test('without tidy or dispose, tensors are freed by GC once the event loop turns', { timeout: 120_000 }, async (t) => {
  const a = randn([256, 256]);
  const settleAsync = async () => {
    for (let i = 0; i < 3; i++) {
      gc();
      await nextTurn();
    }
    return process.memoryUsage().rss;
  };
  for (let i = 0; i < 200; i++) a.mul(2);
  const before = await settleAsync();
  const liveBefore = liveTensors();
  // 2,000 x 256 KB = 500 MB if nothing were freed; a training loop that awaits its data yields like this
  let peak = 0;
  for (let i = 0; i < 2000; i++) {
    a.mul(2);
    if (i % 50 === 49) {
      peak = Math.max(peak, liveTensors());
      await nextTurn();
    }
  }
  const after = await settleAsync();
  t.diagnostic(
    `rss ${(before / MB).toFixed(0)} -> ${(after / MB).toFixed(0)} MB, live ${liveBefore} -> ${liveTensors()}, peak ${peak}`,
  );
  assert.equal(liveTensors(), liveBefore, 'every unreferenced tensor was finalized');
  assert.ok(peak < 1000, `GC kept up: at most ${peak} of 2,000 results alive at once`);
  // freed 256 KB blocks stay in malloc's heap (graft's training malloc settings keep the peak heap
  // on purpose, see malloc.test.ts), so RSS may keep what was alive at the peak, and no more
  const peakBytes = peak * 256 * 1024;
  assert.ok(
    after - before < peakBytes + LIMIT,
    `RSS grew ${((after - before) / MB).toFixed(1)} MB (peak alive ${(peakBytes / MB).toFixed(0)} MB)`,
  );
  assert.equal(tensor([1]).add(1).item(), 2);
});
