// lrFind leaves libtorch's CPU generator as it found it: the sweep draws (dropout, the trainer's
// per-batch reseeding) and the numbers drawn after it are the ones drawn without it, also when the
// sweep throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dropout, Linear, Module, ReLU, Sequential } from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { crossEntropy, getRngState, manualSeed, randn, type Tensor, tensor } from '../../src/tensor/index.ts';
import { lrFind } from '../../src/train/index.ts';

class Net extends Module {
  body: Sequential;
  head: Linear;
  constructor() {
    super();
    this.body = this.registerModule('body', new Sequential(new Linear(4, 8), new ReLU(), new Dropout(0.5)));
    this.head = this.registerModule('head', new Linear(8, 3));
  }
  forward(x: Tensor): Tensor {
    return this.head.call(this.body.call(x));
  }
}

function batches(): [Tensor, Tensor][] {
  const out: [Tensor, Tensor][] = [];
  for (let b = 0; b < 4; b++) {
    const ys = Array.from({ length: 8 }, (_, i) => (b + i) % 3);
    out.push([randn([8, 4]).add(tensor(ys, { dtype: 'float32' }).reshape([8, 1])), tensor(ys, { dtype: 'int64' })]);
  }
  return out;
}

const draw = () => Array.from(randn([7]).data() as Float32Array);
const stateHex = () => Buffer.from(getRngState().bytes()).toString('hex');

for (const seed of [undefined, 5])
  test(`after lrFind (${seed === undefined ? 'dropout draws' : 'the trainer reseeds every batch'}) randn draws what it draws without it`, async () => {
    manualSeed(1);
    const model = new Net();
    const train = batches();
    const optimizer = new SGD(model.parameters(), { lr: 0.01 });
    manualSeed(11);
    const want = draw();
    manualSeed(11);
    const before = stateHex();
    await lrFind({ model, optimizer, train, numIt: 6, ...(seed !== undefined ? { seed } : {}) });
    assert.equal(stateHex(), before, 'the generator state is the one before the sweep');
    assert.deepEqual(draw(), want);
  });

test('a sweep that throws rewinds the generator too', async () => {
  manualSeed(1);
  const model = new Net();
  const train = batches();
  const optimizer = new SGD(model.parameters(), { lr: 0.01 });
  let calls = 0;
  manualSeed(12);
  const before = stateHex();
  await assert.rejects(
    lrFind({
      model,
      optimizer,
      train,
      numIt: 6,
      loss: (out, y) => {
        if (++calls === 3) throw new Error('loss failed');
        return crossEntropy(out as Tensor, y!);
      },
    }),
    /loss failed/,
  );
  assert.equal(stateHex(), before);
});
