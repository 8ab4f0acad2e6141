// State dicts in PyTorch's layout both ways: a torch-pruned .pth loads into a graft model pruned
// the same way (identity), and graft's .pth of a pruned model loads in torch 1.13
// (scripts/fixtures/prune_fixtures.py checks it: graft_pruned.check.txt). GRAFT_UPDATE_FIXTURES=1
// rewrites graft_pruned.pth and its expect.json; then rerun the fixture script.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { flattenTensors, loadCheckpoint, readPth, writePth } from '../../src/io/index.ts';
import { rawToTensor, tensorToRaw } from '../../src/io/tensors.ts';
import * as nn from '../../src/nn/index.ts';
import * as prune from '../../src/prune/index.ts';
import { manualSeed, noGrad, type Tensor } from '../../src/tensor/index.ts';
import { cases, FIX, t } from './_fixtures.ts';

const mlp = () => new nn.Sequential(new nn.Linear(4, 5), new nn.ReLU(), new nn.Linear(5, 2));

test('a state dict torch pruned loads into a graft model pruned with identity; outputs agree', () => {
  const c = cases.torchPruned;
  const model = mlp();
  prune.identity(model.getSubmodule('0'), 'weight');
  prune.identity(model.getSubmodule('2'), 'weight');
  assert.deepEqual([...model.stateDict().keys()], c.keys, 'the same keys in the same order');
  const sd = new Map([...flattenTensors(readPth(join(FIX, 'torch_pruned.pth')))].map(([k, v]) => [k, rawToTensor(v)]));
  model.loadStateDict(sd);
  const y = noGrad(() => model.call(t(c.x)) as Tensor);
  assert.deepEqual(y.shape, c.y.shape);
  for (const [i, v] of y.toArray().entries()) assert.ok(Math.abs(v - c.y.data[i]!) < 1e-6, `y[${i}]`);
  // io.loadCheckpoint (what users call) takes it too
  const again = mlp();
  prune.identity(again.getSubmodule('0'), 'weight');
  prune.identity(again.getSubmodule('2'), 'weight');
  const report = loadCheckpoint(again, join(FIX, 'torch_pruned.pth'));
  assert.deepEqual([report.missing, report.unexpected, report.loaded.length], [[], [], 6]);
  const y2 = noGrad(() => again.call(t(c.x)) as Tensor);
  assert.deepEqual(y2.toArray(), y.toArray());
  // an unpruned model refuses it (weight_orig / weight_mask are not its keys), as torch does
  assert.throws(() => mlp().loadStateDict(sd), /weight_orig/);
});

function graftPruned(): { model: nn.Sequential; x: Tensor } {
  manualSeed(5);
  const model = mlp();
  prune.l1Unstructured(model.getSubmodule('0'), 'weight', 0.5);
  prune.lnStructured(model.getSubmodule('2'), 'weight', 1, 1, 0);
  return { model, x: t({ shape: [3, 4], data: [0.5, -1, 2, 0.25, 1, 1, -0.5, 0, 3, -2, 0.1, 0.7] }) };
}

const WRITTEN = join(FIX, 'graft_pruned.pth');
const raw = (m: nn.Module) => new Map([...m.stateDict()].map(([k, v]) => [k, tensorToRaw(v)]));

if (process.env.GRAFT_UPDATE_FIXTURES === '1') {
  const { model, x } = graftPruned();
  writePth(WRITTEN, raw(model) as never);
  const y = noGrad(() => model.call(x) as Tensor);
  const enc = (v: Tensor) => ({ shape: v.shape, data: v.toArray() });
  const zeros0 = noGrad(() => (model.getSubmodule('0') as nn.Linear).weight.eq(0).sum().item());
  writeFileSync(
    WRITTEN.replace(/\.pth$/, '.expect.json'),
    `${JSON.stringify({ keys: [...model.stateDict().keys()], x: enc(x), y: enc(y), zeros0 })}\n`,
  );
}

test("graft's .pth of a pruned model is the committed file torch loaded into a pruned torch model", () => {
  const { model } = graftPruned();
  const dir = mkdtempSync(join(tmpdir(), 'graft-prune-'));
  try {
    const p = join(dir, 'out.pth');
    writePth(p, raw(model) as never);
    assert.deepEqual(readFileSync(p), readFileSync(WRITTEN), 'graft_pruned.pth differs: rerun prune_fixtures.py');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(
    [...model.stateDict().keys()],
    ['0.bias', '0.weight_orig', '0.weight_mask', '2.bias', '2.weight_orig', '2.weight_mask'],
  );
  assert.match(readFileSync(join(FIX, 'graft_pruned.check.txt'), 'utf8'), /\nOK\n?$/);
});
