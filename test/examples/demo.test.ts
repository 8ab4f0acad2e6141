import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../src/data/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

test('the demo recipe runs end to end on a tiny subset and writes both reports', {
  skip: !haveData && 'no Fashion-MNIST',
}, () => {
  const out = mkdtempSync(join(tmpdir(), 'graft-demo-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'examples', 'fashion_mnist.ts')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, DEMO_TRAIN: '96', DEMO_TEST: '50', DEMO_SIZE: '32', DEMO_OUT: out },
    timeout: 240_000,
  });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  assert.match(r.stdout, /260 tensors loaded/);
  assert.match(r.stdout, /learning rate at the start of each epoch/);
  assert.match(r.stdout, /pretrained\s+\d\.\d{4}/);
  assert.match(r.stdout, /scratch\s+\d\.\d{4}/);
  for (const name of ['pretrained', 'scratch']) {
    assert.ok(existsSync(join(out, name, 'report.html')), `${name} report`);
    assert.ok(existsSync(join(out, name, 'model.safetensors')), `${name} model`);
  }
});
