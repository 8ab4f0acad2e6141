// Every torchvision model against PyTorch: state-dict keys and shapes in order, parameter counts,
// eval outputs, train-mode outputs and BatchNorm running statistics, gradients for every parameter.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as models from '../../src/models/index.ts';
import { Dropout, type Module } from '../../src/nn/index.ts';
import { noGrad, tidy } from '../../src/tensor/index.ts';
import { assertClose, fill, hinput, readJson, readTensors } from './_fixture.ts';

interface Fixture {
  name: string;
  input_shape: number[];
  num_classes: number;
  num_params_full: number;
  num_params: number;
  keys: [string, number[]][];
  named_parameters: string[];
}

const NAMES = [
  'cifar_net',
  'resnet18',
  'resnet34',
  'resnet50',
  'mobilenet_v2',
  'efficientnet_b0',
  'alexnet',
  'vgg16',
  'vgg16_bn',
];

/** Train mode with dropout and stochastic depth off, as the generator's stochastic_off(). */
function stochasticOff(m: Module): void {
  m.train();
  m.apply((c) => {
    if (c instanceof Dropout || c instanceof models.StochasticDepth) c.eval();
  });
}

describe('models match torchvision', () => {
  for (const name of NAMES)
    test(name, () => {
      const fx = readJson<Fixture>(`${name}.json`);
      const want = readTensors(`${name}.safetensors`);
      const model = models.create(name, { numClasses: fx.num_classes });
      try {
        tidy(() => {
          const sd = model.stateDict();
          assert.deepEqual(
            [...sd].map(([k, t]) => [k, t.shape]),
            fx.keys,
            'state-dict keys, order and shapes',
          );
          assert.deepEqual(
            [...model.namedParameters()].map(([k]) => k),
            fx.named_parameters,
          );
          assert.equal(model.numParameters(), fx.num_params);
        });
        fill(model);
        const x = hinput('input', fx.input_shape);
        tidy(() => {
          model.eval();
          assertClose(
            noGrad(() => model.call(x)),
            want.get('eval')!,
            `${name} eval output`,
          );
        });
        tidy(() => {
          stochasticOff(model);
          // batch statistics amplify summation-order (thread count) differences through deep stacks:
          // PyTorch itself, 1 thread vs 2, differs by 2e-5 of the tensor's scale in resnet50's running
          // stats, so train mode gets an absolute floor of 1e-4 x scale besides the 1e-4 relative bound
          assertClose(
            noGrad(() => model.call(x)),
            want.get('train')!,
            `${name} train output`,
            1e-4,
            1,
          );
          for (const [k, b] of model.namedBuffers()) {
            const e = want.get(`buffers.${k}`);
            assert.ok(e, `fixture has buffer ${k}`);
            if (k.endsWith('num_batches_tracked')) assert.equal(b.item(), e.item(), k);
            else assertClose(b, e, `${name} ${k} after one training forward`, 1e-4, 1);
          }
        });
        tidy(() => {
          model.train();
          model.call(x).pow(2).mean().backward();
          const missing = [...model.namedParameters()].filter(([, p]) => p.grad === undefined).map(([k]) => k);
          assert.deepEqual(missing, [], 'every parameter has a gradient');
        });
        tidy(() => {
          // the default head (1000 ImageNet classes; 10 for cifar_net) gives PyTorch's full-size count
          models.resetClassifier(model, models.getMeta(name).numClasses!);
          assert.equal(model.numParameters(), fx.num_params_full, 'parameter count of the full-size model');
        });
      } finally {
        model.dispose();
      }
    });
});
