// Weights by name: models.pretrained(name, { weights }) and fetchWeights against a local server in
// torchvision's and the Hugging Face Hub's layouts, into $TORCH_HOME and $HF_HOME; the model cards'
// data checked against graft's models.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { HubCorruptError, HubNotFoundError, HubOfflineError, hashPrefix } from '../../src/hub/index.ts';
import type { RawTensor } from '../../src/io/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import * as models from '../../src/models/index.ts';
import type { Module } from '../../src/nn/index.ts';
import { sha256, TestServer } from './_server.ts';
import { cifarState, pthBytes, safetensorsBytes, shardedFiles } from './_weights.ts';

const C1 = 'c1'.repeat(20);
const server = new TestServer();
let home: string;
const quiet = { progress: false } as const;

const source = cifarState(21);
const sourcePth = pthBytes(source);
const cifarFile = `cifar_net-${sha256(sourcePth).slice(0, 8)}.pth`;

before(async () => {
  await server.start();
  process.env.GRAFT_TORCHVISION_URL = `${server.url}/models`;
  process.env.HF_ENDPOINT = server.url;
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
  server.files.set(`/models/${cifarFile}`, { bytes: sourcePth });
  // a published file of our own, in torchvision's naming (the sha256 prefix after the '-')
  models.registerWeights('cifar_net', {
    source: 'torchvision',
    tag: 'IMAGENET1K_V1',
    file: cifarFile,
    licence: 'BSD-3-Clause',
    dataset: 'test',
    isDefault: true,
  });
  models.registerWeights(
    'cifar_net',
    {
      source: 'timm',
      tag: 'cifar_net.test_in1k',
      file: 'timm/cifar_net.test_in1k',
      licence: 'Apache-2.0',
      dataset: 'test',
    },
    { timmArch: 'cifar_net' },
  );
});
after(() => server.stop());
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'graft-weights-'));
  process.env.TORCH_HOME = join(home, 'torch');
  process.env.HF_HOME = join(home, 'hf');
  delete process.env.HF_HUB_OFFLINE;
  server.log.length = 0;
});

const same = (a: RawTensor, b: RawTensor) =>
  a.dtype === b.dtype && a.shape.join() === b.shape.join() && Buffer.from(a.data).equals(Buffer.from(b.data));

function assertLoaded(model: Module, from: Map<string, RawTensor>, except: string[] = []): void {
  for (const [k, t] of model.stateDict()) {
    if (except.includes(k)) continue;
    assert.ok(same(tensorToRaw(t), from.get(k)!), `${k} comes from the file`);
  }
}

test("models.pretrained(name, { weights: 'IMAGENET1K_V1' }) downloads into $TORCH_HOME/hub/checkpoints and loads", async () => {
  const { model, report, weights } = await models.pretrained('cifar_net', { weights: 'IMAGENET1K_V1', ...quiet });
  assert.equal(weights.path, join(home, 'torch', 'hub', 'checkpoints', cifarFile));
  assertLoaded(model, source);
  assert.deepEqual(report.missing, []);
  model.dispose();
  // a new head: numClasses 3 keeps fc3 new, every other key from the file
  server.log.length = 0;
  const three = await models.pretrained('cifar_net', { weights: 'torchvision:DEFAULT', numClasses: 3, ...quiet });
  assert.equal(server.log.length, 0, 'cached: no request');
  assertLoaded(three.model, source, ['fc3.weight', 'fc3.bias']);
  assert.deepEqual(three.report.missing.sort(), ['fc3.bias', 'fc3.weight']);
  three.model.dispose();
  process.env.HF_HUB_OFFLINE = '1';
  const offline = await models.fetchWeights('cifar_net', 'torchvision:IMAGENET1K_V1');
  assert.equal(offline.path, weights.path);
});

test('offline with an empty cache is HubOfflineError; the real catalog names the files torchvision publishes', async () => {
  process.env.HF_HUB_OFFLINE = '1';
  await assert.rejects(
    models.pretrained('cifar_net', { weights: 'IMAGENET1K_V1' }),
    (e: unknown) => e instanceof HubOfflineError && e.message.includes(cifarFile),
  );
  delete process.env.HF_HUB_OFFLINE;
  // resnet18's real file name on a server that sends other bytes: the name's sha256 prefix refuses them
  server.files.set('/models/resnet18-f37072fd.pth', { bytes: sourcePth });
  await assert.rejects(
    models.fetchWeights('resnet18', 'torchvision:IMAGENET1K_V1', quiet),
    (e: unknown) => e instanceof HubCorruptError && /f37072fd/.test(e.message),
  );
  assert.deepEqual(readdirSync(join(home, 'torch', 'hub', 'checkpoints')), [], 'nothing kept');
  assert.deepEqual(
    server.requests('/models/').map((l) => l.url),
    ['/models/resnet18-f37072fd.pth'],
  );
  await assert.rejects(models.fetchWeights('resnet50', 'torchvision:IMAGENET1K_V3', quiet), (e: unknown) => {
    return e instanceof ArgumentError && /IMAGENET1K_V1, torchvision:IMAGENET1K_V2/.test(e.message);
  });
  // DEFAULT is torchvision's best: V2 where there is one
  server.log.length = 0;
  await assert.rejects(models.fetchWeights('resnet50', 'torchvision:DEFAULT', quiet), HubNotFoundError);
  assert.deepEqual(
    server.requests('/models/').map((l) => l.url),
    ['/models/resnet50-11ad3fa6.pth'],
  );
});

test('timm names are Hub repositories timm/<name>; a bare architecture takes its default tag', async () => {
  server.repos.set('timm/cifar_net.test_in1k', {
    commits: {
      [C1]: {
        'config.json': Buffer.from('{"architecture": "cifar_net"}'),
        'model.safetensors': safetensorsBytes(source),
      },
    },
    refs: { main: C1 },
  });
  const { model, weights } = await models.pretrained('cifar_net', { weights: 'timm:cifar_net.test_in1k', ...quiet });
  assertLoaded(model, source);
  model.dispose();
  assert.ok(weights.path.includes(join('hub', 'models--timm--cifar_net.test_in1k', 'snapshots', C1)));
  // the real cards: timm:resnet50 is resnet50.a1_in1k
  server.log.length = 0;
  await assert.rejects(models.fetchWeights('resnet50', 'timm:resnet50', quiet), HubNotFoundError);
  assert.ok(server.log[0]!.url.startsWith('/timm/resnet50.a1_in1k/resolve/main/'), server.log[0]!.url);
  await assert.rejects(
    models.fetchWeights('resnet18', 'timm:resnet50.a1_in1k', quiet),
    (e: unknown) => e instanceof ArgumentError && /loads into resnet50, not resnet18/.test(e.message),
  );
});

test('hf:org/name@revision loads a pinned revision of a sharded repository; a URL lands in the torch cache', async () => {
  const old = cifarState(22);
  server.repos.set('org/cifar', {
    commits: { [C1]: shardedFiles(old), ['d'.repeat(40)]: { 'model.safetensors': safetensorsBytes(source) } },
    refs: { main: 'd'.repeat(40), v1: C1 },
  });
  const pinned = await models.pretrained('cifar_net', { weights: 'hf:org/cifar@v1', ...quiet });
  assertLoaded(pinned.model, old);
  assert.ok(pinned.weights.path.endsWith('model.safetensors.index.json'));
  pinned.model.dispose();
  const main = await models.pretrained('cifar_net', { weights: 'hf:org/cifar', ...quiet });
  assertLoaded(main.model, source);
  main.model.dispose();

  server.files.set('/files/my-weights-2024.pth', { bytes: sourcePth });
  const url = await models.fetchWeights('cifar_net', `${server.url}/files/my-weights-2024.pth`, quiet);
  assert.equal(url.path, join(home, 'torch', 'hub', 'checkpoints', 'my-weights-2024.pth'));
  assert.ok(
    existsSync(url.path),
    "a user's URL is not held to a hash its name seems to carry (torch's check_hash=False)",
  );
});

test('model cards: torchvision files carry their sha256 prefix; parameter counts match the models graft builds', () => {
  for (const [name, cards] of models.weightsCards())
    for (const c of cards) {
      assert.ok(c.licence && c.dataset, `${name} ${c.tag}: licence and dataset`);
      if (c.source !== 'torchvision' || name === 'cifar_net') continue;
      assert.match(hashPrefix(c.file) ?? '', /^[0-9a-f]{8,}$/, `${name} ${c.file}`);
      assert.ok(c.acc1! > 50 && c.acc1! < 90 && c.acc5! > c.acc1!, `${name} ${c.tag} accuracy`);
    }
  for (const name of ['resnet18', 'resnet34', 'resnet50', 'mobilenet_v2', 'efficientnet_b0']) {
    const m = models.create(name);
    const params = models.weightsOf(name).find((c) => c.source === 'torchvision')!.params;
    assert.equal(m.numParameters(), params, `${name}: torchvision's num_params`);
    m.dispose();
  }
  assert.equal(models.findWeights('resnet50', 'torchvision', 'DEFAULT')?.tag, 'IMAGENET1K_V2');
  assert.equal(models.findWeights('resnet50', 'timm', 'resnet50')?.tag, 'resnet50.a1_in1k');
});
