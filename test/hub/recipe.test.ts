// The recipe side: model.pretrained: torchvision:IMAGENET1K_V1 against a local server in
// torchvision's layout plans and trains exactly as the same file given by path (same load, same
// losses, same weights); `graft plan` downloads what it previews; a bad name fails at the recipe.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import YAML from 'yaml';
import { run as planCli } from '../../src/cli/plan.ts';
import { RecipeError } from '../../src/errors.ts';
import { readSafetensors } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import { fetchPretrained, planRecipe, recipeFrom, runRecipe } from '../../src/recipe/index.ts';
import { capture } from '../_capture.ts';
import { imageFolder, readJsonl } from '../recipe/_helpers.ts';
import { sha256, TestServer } from './_server.ts';
import { cifarState, pthBytes } from './_weights.ts';

const server = new TestServer();
let dir: string;
let data: string;
const bytes = pthBytes(cifarState(31));
const file = `cifar_net-${sha256(bytes).slice(0, 8)}.pth`;

before(async () => {
  await server.start();
  dir = mkdtempSync(join(tmpdir(), 'graft-hub-recipe-'));
  process.env.GRAFT_TORCHVISION_URL = `${server.url}/models`;
  process.env.TORCH_HOME = join(dir, 'torch');
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
  delete process.env.HF_HUB_OFFLINE;
  server.files.set(`/models/${file}`, { bytes });
  models.registerWeights('cifar_net', {
    source: 'torchvision',
    tag: 'IMAGENET1K_V1',
    file,
    licence: 'BSD-3-Clause',
    dataset: 'test',
    isDefault: true,
  });
  data = await imageFolder(join(dir, 'data'), ['a', 'b'], { train: 4, val: 2 });
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const recipeWith = (pretrained: unknown, out: string) => ({
  name: 'hub',
  model: { name: 'cifar_net', pretrained },
  data: { kind: 'image-folder', root: data, imageSize: 32, batchSize: 4 },
  optimizer: { type: 'SGD', lr: 0.05, momentum: 0.9 },
  phases: [
    { name: 'head', epochs: 1, freeze: { freeze: '!fc3' } },
    { name: 'all', epochs: 1 },
  ],
  train: { seed: 7, threads: 2, report: false },
  output: { dir: out },
});

test('torchvision:IMAGENET1K_V1 from the server plans and trains exactly as the same file by path', async () => {
  const byName = recipeFrom(recipeWith('torchvision:IMAGENET1K_V1', join(dir, 'by-name')));
  // without the download the build says so (code that cannot wait reads the cache only)
  assert.throws(() => planRecipe(byName), /not downloaded yet/);
  const got = await fetchPretrained(byName.recipe.model, { progress: false });
  const cached = join(dir, 'torch', 'hub', 'checkpoints', file);
  assert.equal(got?.path, cached);
  const byPath = recipeFrom(recipeWith({ checkpoint: cached, onShapeMismatch: 'skip' }, join(dir, 'by-path')));

  const planA = planRecipe(byName);
  const planB = planRecipe(byPath);
  assert.ok(planA.ok && planB.ok, planA.problems.join('; '));
  assert.ok(planA.json.load !== null);
  assert.deepEqual(planA.json.load, planB.json.load, 'the same load preview');
  assert.deepEqual(planA.json.plan, planB.json.plan, 'the same phases, groups and lrs');

  server.log.length = 0;
  const a = await runRecipe(byName);
  assert.equal(server.log.length, 0, 'trained from the cache');
  const b = await runRecipe(byPath);
  // every epoch's train and eval numbers (loss, accuracy, ...), without the timings
  const epochs = (d: string) =>
    readJsonl(join(dir, d, 'metrics.jsonl'))
      .filter((r) => r.type === 'epoch')
      .map((r) => ({ train: r.train, eval: r.eval, lr: r.lr, phase: r.phase }));
  assert.equal(epochs('by-name').length, 2);
  assert.ok(Number.isFinite(epochs('by-name')[1]!.train.loss));
  assert.deepEqual(epochs('by-name'), epochs('by-path'), 'the same losses and metrics, bit for bit');
  assert.deepEqual(a.metrics, b.metrics);
  const weights = (d: string) => readSafetensors(join(dir, d, 'model.safetensors')).tensors;
  const wa = weights('by-name');
  const wb = weights('by-path');
  assert.deepEqual([...wa.keys()], [...wb.keys()]);
  for (const [k, t] of wa) assert.ok(Buffer.from(t.data).equals(Buffer.from(wb.get(k)!.data)), `${k} equal`);
});

test('graft plan downloads the named weights before it previews the load; a bad name is a recipe error', async () => {
  rmSync(join(dir, 'torch'), { recursive: true, force: true });
  const yaml = join(dir, 'recipe.yaml');
  writeFileSync(yaml, YAML.stringify(recipeWith('torchvision:IMAGENET1K_V1', join(dir, 'plan-run'))));
  server.log.length = 0;
  const r = await capture(() => planCli([yaml]));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /pretrained weights torchvision:IMAGENET1K_V1 \(.*cifar_net-/);
  assert.deepEqual(
    server.log.map((l) => l.url),
    [`/models/${file}`],
  );
  assert.ok(existsSync(join(dir, 'torch', 'hub', 'checkpoints', file)));
  assert.throws(
    () => recipeFrom(recipeWith('torchvision:IMAGENET9K', join(dir, 'x'))),
    (e: unknown) => e instanceof RecipeError && e.path === 'model.pretrained' && /IMAGENET1K_V1/.test(e.message),
  );
  assert.throws(() => recipeFrom(recipeWith('hf:bad--id', join(dir, 'x'))), RecipeError);
  assert.equal(readFileSync(yaml, 'utf8').includes('torchvision:IMAGENET1K_V1'), true);
});
