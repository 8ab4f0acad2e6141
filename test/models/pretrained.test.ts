import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pretrained } from '../../src/models/pretrained.ts';
import { arange, noGrad, unary } from '../../src/tensor/index.ts';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'models');

test('nsfwjs MobileNetV2 imports onto torchvision names and reproduces the Keras graph', () => {
  const { model, report } = pretrained('mobilenet_v2', { numClasses: 10 });
  assert.equal(report.renamed.length, 260);
  assert.deepEqual(report.missing, ['classifier.1.weight', 'classifier.1.bias']);
  assert.deepEqual(
    report.unused.filter((k) => !k.startsWith('dense_')),
    [],
  );
  assert.ok(
    report.renamed.some(
      ([from, to]) => from === 'block_7_depthwise/depthwise_kernel' && to === 'features.8.conv.1.0.weight',
    ),
  );
  model.eval();
  // reference: scripts/fixtures/keras_mobilenet_v2_reference.py interprets the Keras layer graph itself
  const meta = JSON.parse(readFileSync(join(fixtures, 'keras_mobilenet_v2_ref.json'), 'utf8'));
  const ref = new Float32Array(new Uint8Array(readFileSync(join(fixtures, 'keras_mobilenet_v2_ref.bin'))).buffer);
  const size = meta.size as number;
  const x = unary('sin', arange(3 * size * size, undefined, 1, { dtype: 'float64' }).mul(0.37))
    .float()
    .reshape([1, 3, size, size]);
  const y = noGrad(() => (model as unknown as { features: { call(t: unknown): any } }).features.call(x));
  assert.deepEqual(y.shape, meta.shape);
  const got = y.data() as Float32Array;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i]! - ref[i]!) / (1 + Math.abs(ref[i]!)));
  assert.ok(worst < 1e-4, `max relative difference ${worst}`);
});
