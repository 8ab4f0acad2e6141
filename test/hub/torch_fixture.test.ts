// A file written by real PyTorch (torch.save, scripts/fixtures/hub_fixtures.py) and named as
// torchvision names its files; torch.hub accepted it with check_hash=True when it was made. graft
// downloads it from a local torchvision-layout server, checks the same hash rule, keeps it where
// torch.hub keeps it and loads every value exactly.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HubCorruptError, hashPrefix } from '../../src/hub/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import * as models from '../../src/models/index.ts';
import { ROOT } from '../recipe/_helpers.ts';
import { sha256, TestServer } from './_server.ts';

const FIX = join(ROOT, 'test', 'fixtures', 'hub');
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as {
  file: string;
  sha256: string;
  state: Record<string, { shape: number[]; f32le: string }>;
};
const bytes = readFileSync(join(FIX, expected.file));
const server = new TestServer();
let home: string;

before(async () => {
  await server.start();
  home = mkdtempSync(join(tmpdir(), 'graft-torchfix-'));
  process.env.GRAFT_TORCHVISION_URL = `${server.url}/models`;
  process.env.TORCH_HOME = home;
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
  delete process.env.HF_HUB_OFFLINE;
  server.files.set(`/models/${expected.file}`, { bytes });
  server.files.set('/models/tiny_cifar-00000000.pth', { bytes });
  const card = { source: 'torchvision', licence: 'BSD-3-Clause', dataset: 'test' } as const;
  models.registerWeights('cifar_net', { ...card, tag: 'PYTORCH_V1', file: expected.file });
  models.registerWeights('cifar_net', { ...card, tag: 'RENAMED_V1', file: 'tiny_cifar-00000000.pth' });
});
after(async () => {
  await server.stop();
  rmSync(home, { recursive: true, force: true });
});

test("a torch.save'd file under torchvision's naming loads exactly, cached as torch.hub caches it", async () => {
  assert.equal(sha256(bytes), expected.sha256);
  assert.ok(expected.sha256.startsWith(hashPrefix(expected.file)!));
  const { model, weights, report } = await models.pretrained('cifar_net', { weights: 'torchvision:PYTORCH_V1' });
  assert.equal(weights.path, join(home, 'hub', 'checkpoints', expected.file));
  assert.deepEqual(readFileSync(weights.path), bytes);
  const sd = model.stateDict();
  for (const [k, want] of Object.entries(expected.state)) {
    const got = tensorToRaw(sd.get(k)!);
    assert.deepEqual(got.shape, want.shape, k);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(want.f32le, 'base64')), `${k}: PyTorch's values`);
  }
  assert.deepEqual(report.missing.sort(), [
    'fc1.bias',
    'fc1.weight',
    'fc2.bias',
    'fc2.weight',
    'fc3.bias',
    'fc3.weight',
  ]);
  model.dispose();
});

test('the same bytes under a name whose hash prefix does not match are refused, as torch.hub refuses them', async () => {
  await assert.rejects(
    models.fetchWeights('cifar_net', 'torchvision:RENAMED_V1', { progress: false }),
    (e: unknown) => e instanceof HubCorruptError && e.message.includes(expected.sha256),
  );
});
