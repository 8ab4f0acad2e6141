// The trainer gives the data's length to the phase runner when fitting starts: a run spec without
// stepsPerEpoch trains a per-step OneCycleLR exactly as the same spec given stepsPerEpoch by hand
// (with accumulation, steps per epoch are batches / accumulate, rounded up).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PhaseRunner, type RunSpec } from '../../src/finetune/index.ts';
import { fit } from '../../src/train/index.ts';
import { setup, weights } from './_helpers.ts';

const spec = (stepsPerEpoch?: number): RunSpec => ({
  optimizer: { type: 'SGD', lr: 0.1, momentum: 0.9 },
  phases: [
    { name: 'warm', epochs: 1, scheduler: { type: 'linear', num_warmup_steps: 2, interval: 'step' } },
    { name: 'cycle', epochs: 2, scheduler: { type: 'OneCycleLR', max_lr: 0.2, interval: 'step' } },
  ],
  ...(stepsPerEpoch ? { stepsPerEpoch } : {}),
});

async function lrsOf(stepsPerEpoch: number | undefined, accumulate: number) {
  const s = setup(4, { n: 80, batchSize: 16 }); // 5 batches per epoch
  const runner = new PhaseRunner(s.model, spec(stepsPerEpoch));
  const lrs: number[] = [];
  const r = await fit({
    model: s.model,
    runner,
    train: s.train,
    valid: s.valid,
    accumulate,
    progress: false,
    callbacks: [{ beforeStep: (t) => void lrs.push(t.lrs()[0]!) }],
  });
  return { lrs, steps: r.steps, w: weights(s.model) };
}

for (const accumulate of [1, 2])
  test(`a OneCycle phase without stepsPerEpoch trains with the lrs of the hand-given run (accumulate ${accumulate})`, async () => {
    const perEpoch = Math.ceil(5 / accumulate);
    const byHand = await lrsOf(perEpoch, accumulate);
    const fromData = await lrsOf(undefined, accumulate);
    assert.equal(byHand.steps, 3 * perEpoch);
    assert.equal(fromData.lrs.length, 3 * perEpoch);
    assert.deepEqual(fromData.lrs, byHand.lrs);
    assert.deepEqual(fromData.w, byHand.w);
    // the cycle went up and came back down within its 2 epochs
    const cycle = fromData.lrs.slice(perEpoch);
    assert.ok(Math.max(...cycle) > cycle[0]! && cycle.at(-1)! < cycle[0]!);
  });

test('a hand-given stepsPerEpoch that contradicts the data is refused before any step', async () => {
  const s = setup(4, { n: 80, batchSize: 16 });
  let batches = 0;
  await assert.rejects(
    fit({
      model: s.model,
      runner: new PhaseRunner(s.model, spec(7)),
      train: s.train,
      progress: false,
      callbacks: [{ beforeBatch: () => void batches++ }],
    }),
    /run spec says 7 steps per epoch, but the training data gives 5/,
  );
  assert.equal(batches, 0);
});

test('a last phase sized in steps ends the run at its step count, mid-epoch: validated, no step past the schedule', async () => {
  const s = setup(4, { n: 80, batchSize: 16 }); // 5 batches per epoch
  const runner = new PhaseRunner(s.model, {
    optimizer: { type: 'SGD', lr: 0.1 },
    phases: [
      { name: 'head', epochs: 1 },
      { name: 'all', steps: 7, scheduler: { type: 'linear', num_warmup_steps: 0, interval: 'step' } },
    ],
  });
  const lrs: number[] = [];
  const epochs: number[] = [];
  const r = await fit({
    model: s.model,
    runner,
    train: s.train,
    valid: s.valid,
    progress: false,
    callbacks: [{ beforeStep: (t) => void lrs.push(t.lrs()[0]!), afterEpoch: (t) => void epochs.push(t.epoch) }],
  });
  // 5 steps of 'head', then 7 of 'all' (5 + 2 of the third epoch), not 15
  assert.equal(r.steps, 12);
  assert.equal(lrs.length, 12);
  assert.deepEqual(epochs, [0, 1, 2], 'the cut epoch is validated like any other');
  // linear decay over the phase's 7 steps: never back above zero after its end
  assert.ok(lrs.at(-1)! > 0 && lrs.at(-1)! < lrs[5]!);
});
