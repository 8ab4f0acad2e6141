// Training with LoRA: a BERT sequence classifier with adapters on query/value and a new head in
// modules_to_save learns through a PhaseRunner; the base weights never move; the plan counts what trains.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { applyLora, PhaseRunner, plan } from '../../src/finetune/index.ts';
import { noGrad, type Tensor, tensor, tidy } from '../../src/tensor/index.ts';
import { maxDiff, tinyBert } from './_lora.ts';

// two classes of 8-token sequences the tiny model does not separate before training
const X = tensor(
  Array.from({ length: 8 }, (_, i) =>
    Array.from({ length: 8 }, (_, j) => (i < 4 ? 5 + ((i + j) % 7) : 60 + ((i * j) % 9))),
  ),
  { dtype: 'int64' },
);
const Y = tensor([0, 0, 0, 0, 1, 1, 1, 1], { dtype: 'int64' });

function snapshot(m: { stateDict(): Map<string, Tensor> }): Map<string, Tensor> {
  return new Map([...m.stateDict()].map(([k, v]) => [k, noGrad(() => v.clone())]));
}

describe('LoRA training', () => {
  test('BERT + LoRA + modules_to_save: the loss falls, only adapters and the head change', () => {
    const m = tinyBert();
    m.resetClassifier(2);
    const info = applyLora(m, { r: 4, alpha: 8, targetModules: ['query', 'value'], modulesToSave: ['classifier'] });
    const before = snapshot(m);
    const runner = new PhaseRunner(m, {
      optimizer: { type: 'AdamW', lr: 1e-2, weight_decay: 0 },
      // phase 0 would otherwise apply freeze 'none' and train the whole model
      phases: [{ epochs: 1, freeze: info.freezeSpec }],
    });
    assert.equal(m.numParameters({ trainableOnly: true }), info.trainableParameters);
    runner.onEpochStart(0);
    m.train();
    const losses: number[] = [];
    for (let step = 0; step < 12; step++)
      tidy(() => {
        runner.optimizer.zeroGrad();
        const { loss } = m.call({ inputIds: X, labels: Y });
        losses.push(loss!.item() as number);
        loss!.backward();
        runner.optimizer.step();
        runner.onStepEnd();
      });
    assert.ok(losses.at(-1)! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses.at(-1)}`);
    const changed = [...m.stateDict()].filter(([k, v]) => maxDiff(v, before.get(k)!) > 0).map(([k]) => k);
    assert.deepEqual(changed.sort(), [...info.trainable].sort());
    assert.ok(changed.includes('classifier.weight'));
    assert.ok(changed.includes('bert.encoder.layer.1.attention.self.value.lora_B.weight'));
  });

  test('plan shows trainable vs total parameters', () => {
    const m = tinyBert();
    const info = applyLora(m, { r: 4, alpha: 8, targetModules: ['query', 'value'] });
    const { json, text } = plan(m, {
      optimizer: { type: 'AdamW', lr: 1e-3 },
      phases: [
        { epochs: 1, freeze: info.freezeSpec },
        { epochs: 1, freeze: 'none' },
      ],
    });
    assert.equal(json.phases[0]!.trainableParameters, info.trainableParameters);
    assert.equal(json.phases[1]!.trainableParameters, info.totalParameters);
    const pct = ((100 * info.trainableParameters) / info.totalParameters).toFixed(2);
    assert.ok(
      text.includes(`  trainable: 1,123 of ${info.totalParameters.toLocaleString('en-US')} parameters (${pct}%)`),
      text,
    );
    assert.ok(text.includes(`  trainable: ${info.totalParameters.toLocaleString('en-US')} of `));
  });
});
