// The demo script end to end on a tiny subset, twice in separate processes: both runs write their
// reports, and the second logs exactly the losses of the first (a seeded run is reproducible).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../../src/data/index.ts';
import { firstDifference, loggedLosses } from './_losses.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const haveData = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

function demo(out: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', join(root, 'examples', 'fashion_mnist.ts')], {
    cwd: root,
    encoding: 'utf8',
    // two intra-op threads: the reproducibility claim holds for a fixed thread count, not only one
    env: {
      ...process.env,
      GRAFT_NUM_THREADS: '2',
      DEMO_TRAIN: '96',
      DEMO_TEST: '50',
      DEMO_SIZE: '32',
      DEMO_LOG_EVERY: '1',
      DEMO_OUT: out,
    },
    timeout: 240_000,
  });
}

test('the demo runs end to end on a tiny subset, and a second process logs the same losses bit for bit', {
  skip: !haveData && 'no Fashion-MNIST',
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-demo-'));
  try {
    const runs = [join(dir, 'a'), join(dir, 'b')];
    for (const out of runs) {
      const r = demo(out);
      assert.equal(r.status, 0, r.stderr.slice(-2000));
      assert.match(r.stdout, /260 tensors loaded/);
      assert.match(r.stdout, /learning rate at the start of each epoch/);
      assert.match(r.stdout, /pretrained\s+\d\.\d{4}/);
      assert.match(r.stdout, /scratch\s+\d\.\d{4}/);
      for (const name of ['pretrained', 'scratch']) {
        assert.ok(existsSync(join(out, name, 'report.html')), `${name} report`);
        assert.ok(existsSync(join(out, name, 'model.safetensors')), `${name} model`);
      }
    }
    for (const name of ['pretrained', 'scratch']) {
      const [a, b] = runs.map((out) => loggedLosses(join(out, name, 'metrics.jsonl'))) as [
        Map<string, number>,
        Map<string, number>,
      ];
      // 3 steps per epoch, 2 epochs: 6 step records + 2 train + 2 eval losses
      assert.equal(a.size, 10, `${name}: ${[...a.keys()].join(', ')}`);
      assert.equal(firstDifference(a, b), undefined, `${name}: the second run logged a different loss`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
