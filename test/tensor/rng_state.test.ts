// getRngState / setRngState: libtorch's default CPU generator read and put back, as PyTorch's
// torch.get_rng_state / set_rng_state (fixture: scripts/fixtures/rng_state_fixtures.py).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { getRngState, manualSeed, randn, setRngState, type Tensor, zeros } from '../../src/tensor/index.ts';

const FX = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'tensor', 'rng_state.json'), 'utf8'));

const summary = (t: Tensor) => {
  const b = Buffer.from(t.bytes());
  return {
    bytes: b.length,
    sha256: createHash('sha256').update(b).digest('hex'),
    head: [...b.subarray(0, 16)],
    tail: [...b.subarray(-16)],
  };
};
const draw = () => Array.from(randn([5]).data() as Float32Array);

test("the state is torch.get_rng_state()'s, byte for byte, after manual_seed and after draws", () => {
  manualSeed(FX.seed);
  const seeded = getRngState();
  assert.equal(seeded.dtype, 'uint8');
  assert.deepEqual(seeded.shape, [FX.seeded.bytes]);
  assert.deepEqual(summary(seeded), FX.seeded);
  const first = draw();
  assert.deepEqual(first, FX.firstRandn5.map(Math.fround));
  assert.deepEqual(summary(getRngState()), FX.afterRandn5);
  assert.deepEqual(summary(seeded), FX.seeded, 'a copy: draws leave it as it was');
  assert.deepEqual(draw(), FX.secondRandn5.map(Math.fround));
  setRngState(seeded);
  assert.deepEqual(draw(), first, 'the draws after the state repeat');
  seeded.dispose();
});

test('setRngState refuses what is not a generator state', () => {
  assert.throws(() => setRngState(zeros([5056])), /setRngState needs a uint8 CPU tensor, got float32/);
  assert.throws(
    () => setRngState(zeros([7], { dtype: 'uint8' })),
    (e: Error & { code?: string }) => e.code !== undefined,
  );
  assert.throws(() => setRngState([1, 2] as never), /setRngState needs the tensor getRngState returned/);
});
