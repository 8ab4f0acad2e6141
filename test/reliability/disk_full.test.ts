// A full disk during a checkpoint write: the run stops with a coded error naming the file (no raw
// stack), no temp file is left, and last.pth / best.pth stay the previous good ones. Needs a small
// tmpfs, so it runs as root only (elsewhere it is skipped, saying so).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointAt, graftChild, temps, waitFor, withTmp, writeIdx, writeRecipe } from './_run.ts';

function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: a tmpfs cannot be mounted';
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  return r.status === 0 ? undefined : `mount failed: ${r.stderr.toString().trim() || r.error?.message}`;
}

function fillLeaving(path: string, leave: number): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) {
      try {
        if (writeSync(fd, chunk) < chunk.length) break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw e;
      }
    }
    ftruncateSync(fd, Math.max(0, fstatSync(fd).size - leave));
  } finally {
    closeSync(fd);
  }
}

test('disk full while writing a checkpoint: a coded error, no temp file, the last good checkpoint intact', {
  timeout: 600_000,
}, async (t) => {
  await withTmp(async (dir) => {
    const fs = join(dir, 'fs');
    const why = mountTmpfs(fs, '4m');
    if (why) {
      t.skip(`disk-full drill skipped: ${why}`);
      return;
    }
    try {
      const recipe = writeRecipe(dir, writeIdx(join(dir, 'idx')));
      const run = join(fs, 'run');
      const child = graftChild([
        'train',
        recipe,
        '--out',
        run,
        '--quiet',
        '--set',
        'phases[0].epochs=400',
        '--set',
        'train.logEvery=100000',
      ]);
      const last = join(run, 'checkpoints', 'last.pth');
      await waitFor(() => existsSync(join(run, 'checkpoints', 'epoch-0001.pth')), 180_000, 'the first checkpoints');
      // fill the disk, leaving room for log lines but not for a checkpoint; the run keeps writing
      // while we fill, so write until ENOSPC and then give 64 KiB back (never a one-shot size)
      fillLeaving(join(fs, 'filler'), 64 * 1024);
      const e = await child.exit;
      assert.equal(e.code, 1, `exit ${e.code} ${e.signal}: ${child.err()}`);
      assert.match(child.err(), /graft train: .*\.pth.*(ENOSPC|no space)/i);
      assert.doesNotMatch(child.err(), /\n\s+at /, 'no raw stack');
      assert.deepEqual(temps(run), [], 'no temp file left');
      const good = checkpointAt(last);
      assert.ok(good.epoch >= 1 && good.batch === 0, 'last.pth is an epoch-end checkpoint that loads');
      checkpointAt(join(run, 'checkpoints', 'best.pth'));
    } finally {
      spawnSync('umount', [fs]);
    }
  });
});
