// bf16 mixed precision on the CPU with ReLU6: libtorch 1.13 has no bfloat16 backward for hardtanh
// (PyTorch 1.13 fails with "hardshrink_backward_cpu" not implemented for 'BFloat16'), so graft runs
// hardtanh in float32 under CPU autocast; a MobileNetV2-style conv + BatchNorm + ReLU6 net trains in
// bf16 and its losses follow the float32 run within bf16's precision.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nn from '../../src/nn/index.ts';
import { SGD } from '../../src/optim/index.ts';
import { autocast, F, manualSeed, randint, randn, torchVersion } from '../../src/tensor/index.ts';
import { Trainer } from '../../src/train/index.ts';

const before2 = Number(torchVersion().split('.')[0]) < 2;

test('under CPU autocast, hardtanh (ReLU6) of a bf16 tensor runs in float32; outside it stays bf16', () => {
  const x = randn([4, 3]).to({ dtype: 'bfloat16' });
  assert.equal(F.relu6(x).dtype, 'bfloat16');
  if (!before2) return; // later libtorch versions have the bf16 kernel and their own autocast lists
  const y = autocast(() => F.relu6(x));
  assert.equal(y.dtype, 'float32');
  assert.deepEqual(y.toArray(), F.relu6(x).float().toArray());
});

async function run(amp: 'bf16' | false) {
  manualSeed(5);
  const model = new nn.Sequential(
    new nn.Conv2d(3, 8, 3, { padding: 1, bias: false }),
    new nn.BatchNorm2d(8),
    new nn.ReLU6({ inplace: true }),
    new nn.Conv2d(8, 8, 3, { padding: 1, groups: 8, bias: false }),
    new nn.BatchNorm2d(8),
    new nn.ReLU6({ inplace: true }),
    new nn.AdaptiveAvgPool2d(1),
    new nn.Flatten(),
    new nn.Linear(8, 3),
  );
  manualSeed(6);
  const train = Array.from({ length: 3 }, () => ({ input: randn([4, 3, 10, 10]), target: randint(0, 3, [4]) }));
  const losses: number[] = [];
  const gradSums: number[] = [];
  const first = model.at<nn.Conv2d>(0).weight;
  const t = new Trainer({
    model,
    optimizer: new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }),
    train,
    amp,
    callbacks: [
      { afterLoss: (tr) => void losses.push(tr.lossValue!) },
      { afterBackward: () => void gradSums.push(first.grad!.abs().sum().item() as number) },
    ],
  });
  await t.fit(2);
  return { losses, gradFinite: gradSums.length === 6 && gradSums.every((g) => Number.isFinite(g) && g > 0) };
}

test("trainer amp 'bf16' on the CPU trains a conv + BatchNorm + ReLU6 net; losses follow float32's", async () => {
  const fp32 = await run(false);
  const bf16 = await run('bf16');
  assert.equal(bf16.losses.length, 6);
  assert.ok(bf16.gradFinite, 'the first conv got a finite gradient through the ReLU6s');
  for (let i = 0; i < 6; i++)
    assert.ok(
      Math.abs(bf16.losses[i]! - fp32.losses[i]!) < 0.05 * (1 + Math.abs(fp32.losses[i]!)),
      `step ${i}: bf16 ${bf16.losses[i]} vs float32 ${fp32.losses[i]}`,
    );
});
