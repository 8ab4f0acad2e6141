// The header-only readers behind load plans and `graft inspect` (zip .pth without data, safetensors
// headers) on mutated real checkpoints: every outcome is a report, a load, or a CheckpointError.
// A few hundred cases by default; GRAFT_SLOW=1 runs 5,000.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { type LoadPlan, loadCheckpoint, openCheckpoint, previewLoad, stripPrefix } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import type { Module } from '../../src/nn/index.ts';
import { BackboneWithHead, GENERAL, IO, RESNET_DP, Small, SSL, withTmp } from './_plan.ts';

const CASES = process.env.GRAFT_SLOW === '1' ? 5000 : 300;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const bytes = (f: string) => new Uint8Array(readFileSync(f));

test(`mutated checkpoints: ${CASES} previews and loads end in a result or a CheckpointError`, () => {
  const r = rng(7);
  const int = (n: number) => Math.floor(r() * n);
  // each file with a model and plan that reads some of its tensors
  const FILES: { bytes: Uint8Array; model: Module; plan: LoadPlan }[] = [
    {
      bytes: bytes(RESNET_DP),
      model: models.create('resnet18'),
      plan: { rename: stripPrefix('module.'), include: ['conv1', 'layer1.0', 'fc'] },
    },
    { bytes: bytes(GENERAL), model: models.create('cifar_net'), plan: {} },
    { bytes: bytes(SSL), model: new BackboneWithHead(), plan: { include: 'backbone', exclude: '*fc*' } },
    { bytes: bytes(join(IO, 'model.safetensors')), model: new Small(), plan: {} },
  ];
  const slots = [
    { key: 'conv1.weight', dtype: 'float32' as const, shape: [64, 3, 7, 7], parameter: true, hasDefault: false },
    { key: 'fc3.bias', dtype: 'float32' as const, shape: [10], parameter: true, hasDefault: false },
  ];
  withTmp((dir) => {
    const file = join(dir, 'm.bin');
    const outcomes = { ok: 0, refused: 0 };
    for (const f of FILES) {
      writeFileSync(file, f.bytes);
      assert.ok(loadCheckpoint(f.model, file, f.plan).loaded.length > 0);
    }
    for (let i = 0; i < CASES; i++) {
      const { bytes: src, model, plan } = FILES[i % FILES.length]!;
      const b = src.slice();
      const kind = int(3);
      if (kind === 0)
        for (let j = 0, n = 1 + int(6); j < n; j++)
          b[r() < 0.5 ? int(Math.min(b.length, 600)) : int(b.length)] = int(256);
      else if (kind === 1)
        for (let j = 0, n = 1 + int(6); j < n; j++) b[b.length - 1 - int(Math.min(b.length, 300))] = int(256);
      writeFileSync(file, kind === 2 ? b.subarray(0, int(b.length)) : b);
      try {
        openCheckpoint(file);
        previewLoad(slots, file, { rename: stripPrefix('module.'), allowEmpty: true, onShapeMismatch: 'skip' });
        loadCheckpoint(model, file, { ...plan, allowEmpty: true, onShapeMismatch: 'skip' });
        outcomes.ok++;
      } catch (e) {
        if (!(e instanceof CheckpointError)) {
          assert.fail(`case ${i} (kind ${kind}): ${(e as Error).name}: ${(e as Error).message}`);
        }
        outcomes.refused++;
      }
    }
    assert.ok(outcomes.refused > 0 && outcomes.ok > 0, JSON.stringify(outcomes));
  });
});
