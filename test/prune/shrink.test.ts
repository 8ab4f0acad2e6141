// Channel shrinking: the shrunk ResNet computes what the full one computes with those channels
// silenced (conv rows and BatchNorm scale/shift zero), and residual widths are never touched.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resnet18, resnet50 } from '../../src/models/index.ts';
import type { BatchNorm2d, Conv2d, Module } from '../../src/nn/index.ts';
import * as prune from '../../src/prune/index.ts';
import { manualSeed, noGrad, randn, type Tensor, tensor } from '../../src/tensor/index.ts';

function randomizeBn(m: Module): void {
  noGrad(() => {
    for (const [k, v] of m.stateDict()) {
      if (k.endsWith('running_mean') || k.endsWith('bn1.bias') || k.endsWith('bn2.bias'))
        v.copy_(randn(v.shape).mul(0.1));
      if (k.endsWith('running_var')) v.copy_(randn(v.shape).abs().add(0.5));
    }
  });
}

function maxDiff(a: Tensor, b: Tensor): number {
  return a.sub(b).abs().max().item();
}

describe('shrink', () => {
  test('BasicBlock: conv1 channels removed = those channels silenced; residual convs refused', () => {
    manualSeed(3);
    const net = resnet18({ numClasses: 10 }).eval();
    randomizeBn(net);
    const { plans, refused } = prune.shrinkable(net);
    assert.equal(plans.length, 8);
    assert.deepEqual(plans[0], { conv: 'layer1.0.conv1', bn: 'layer1.0.bn1', consumers: ['layer1.0.conv2'] });
    assert.ok(refused.some((r) => r.conv === 'layer1.0.conv2' && /residual/.test(r.reason)));
    const x = randn([2, 3, 32, 32]);
    // reference: the full net with the channels lnShrink will drop silenced
    const silenced = resnet18({ numClasses: 10 }).eval();
    silenced.loadStateDict(net.stateDict());
    const before = net.numParameters();
    const report = prune.lnShrink(net, { amount: 0.5 });
    assert.equal(report.layers.length, 8);
    assert.deepEqual(report.layers[0], { conv: 'layer1.0.conv1', before: 64, after: 32 });
    assert.equal(report.parametersBefore, before);
    assert.ok(report.parametersAfter < before * 0.8, `${report.parametersAfter} of ${before}`);
    noGrad(() => {
      for (const l of report.layers) {
        const full = silenced.getSubmodule(l.conv) as Conv2d;
        const bn = silenced.getSubmodule(l.conv.replace('conv1', 'bn1')) as BatchNorm2d;
        const norms = Array.from(full.weight.flatten(1).norm(2, 1).data() as Float32Array);
        const kept = new Set(
          norms
            .map((v, i) => [v, i] as const)
            .sort((a, b) => b[0] - a[0] || a[1] - b[1])
            .slice(0, l.after)
            .map(([, i]) => i),
        );
        const mask = tensor(norms.map((_, i) => (kept.has(i) ? 1 : 0)));
        full.weight.mul_(mask.reshape([-1, 1, 1, 1]));
        bn.weight!.mul_(mask);
        bn.bias!.mul_(mask);
      }
      const d = maxDiff(net.call(x), silenced.call(x));
      assert.ok(d < 1e-4, `shrunk vs silenced: ${d}`);
    });
    assert.equal((net.getSubmodule('layer1.0.conv2') as Conv2d).inChannels, 32);
    assert.throws(
      () => prune.lnShrink(resnet18(), { amount: 0.5, convs: ['layer1.0.conv2'] }),
      /cannot shrink 'layer1.0.conv2': its output is added to the residual/,
    );
    assert.throws(() => prune.lnShrink(resnet18(), { amount: 0.5, convs: ['conv1'] }), /cannot shrink 'conv1'/);
  });

  test('Bottleneck: conv1 and conv2 shrink, conv3 keeps the width', () => {
    const { plans, refused } = prune.shrinkable(resnet50());
    assert.deepEqual(
      plans.slice(0, 2).map((p) => p.conv),
      ['layer1.0.conv1', 'layer1.0.conv2'],
    );
    assert.ok(refused.some((r) => r.conv === 'layer1.0.conv3'));
    assert.ok(refused.some((r) => r.conv === 'layer1.0.downsample.0'));
  });

  test('shrinkPruned removes the channels ln_structured zeroed', () => {
    manualSeed(4);
    const net = resnet18({ numClasses: 10 }).eval();
    const conv = net.getSubmodule('layer2.1.conv1') as Conv2d;
    prune.lnStructured(conv, 'weight', 0.25, 2, 0);
    const r = prune.shrinkPruned(net);
    assert.deepEqual(r.layers, [{ conv: 'layer2.1.conv1', before: 128, after: 96 }]);
    const small = net.getSubmodule('layer2.1.conv1') as Conv2d;
    assert.equal(prune.isPruned(small), false);
    assert.equal(small.weight.flatten(1).norm(1, 1).eq(0).sum().item(), 0, 'no zero channel left');
    noGrad(() => net.call(randn([1, 3, 32, 32])));
  });
});
