// The run folder's lock and overwrite guard: a finished run is never trained over without
// --overwrite (or --resume); a lock left by a killed run (dead pid) is taken over; a lock from
// another host is refused with the file to delete; the same guard holds for the fit() API.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { acquireRunLock, fit, LOCK_FILE, lockIsLive } from '../../src/train/index.ts';
import { setup } from '../train/_helpers.ts';
import { graft, readJsonl, snapshot, withTmp, writeIdx, writeRecipe } from './_run.ts';

const deadPid = (): number => {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
};

test('an existing run folder needs --resume or --overwrite; a stale lock is taken over, a foreign one refused', async () => {
  await withTmp(async (dir) => {
    const recipe = writeRecipe(dir, writeIdx(join(dir, 'idx')), { epochs: 1 });
    const run = join(dir, 'run');
    assert.equal((await graft('train', recipe, '--out', run, '--quiet')).code, 0);
    const before = snapshot(run);

    const again = await graft('train', recipe, '--out', run, '--quiet');
    assert.equal(again.code, 1);
    assert.match(again.err, /already holds a run .*--resume.*--overwrite/);
    assert.deepEqual(snapshot(run), before, 'a refused run changes nothing');
    const both = await graft('train', recipe, '--out', run, '--overwrite', '--resume', run);
    assert.equal(both.code, 2);

    // a lock whose process is gone (a kill -9): taken over, and removed at the end
    writeFileSync(
      join(run, LOCK_FILE),
      JSON.stringify({ pid: deadPid(), host: hostname(), started: '2020-01-01T00:00:00.000Z', command: 'x' }),
    );
    const over = await graft('train', recipe, '--out', run, '--overwrite', '--quiet');
    assert.equal(over.code, 0, over.err);
    assert.ok(!existsSync(join(run, LOCK_FILE)));
    const starts = readJsonl(join(run, 'metrics.jsonl')).filter((r) => r.type === 'run' && r.event === 'start');
    assert.equal(starts.length, 1, 'the overwritten run left no records behind');

    // a live pid whose start time differs from the recorded one is a reused pid: stale
    const mine = { pid: process.pid, host: hostname(), started: '', command: '' };
    assert.ok(lockIsLive(mine));
    if (existsSync('/proc/self/stat')) assert.ok(!lockIsLive({ ...mine, procStart: 1 }), 'pid reused');

    // another host's lock: refused, naming the file to delete
    const foreign = { pid: 1, host: `not-${hostname()}`, started: '2020-01-01T00:00:00.000Z', command: 'x' };
    assert.ok(lockIsLive(foreign));
    writeFileSync(join(run, LOCK_FILE), JSON.stringify(foreign));
    const r = await graft('train', '--resume', run, '--quiet');
    assert.equal(r.code, 1);
    assert.match(r.err, new RegExp(`in use by another run \\(pid 1 on not-.*delete .*${LOCK_FILE}`));
  });
});

test('fit(): a folder holding a run is refused unless resume or overwrite; a live lock is refused', async () => {
  await withTmp(async (out) => {
    const quiet = { progress: false as const, epochs: 1, export: false as const, report: false };
    await fit({ ...setup(1), ...quiet, outDir: out });
    await assert.rejects(fit({ ...setup(1), ...quiet, outDir: out }), { code: 'GRAFT_RUN_EXISTS' });
    const r = await fit({ ...setup(1), ...quiet, outDir: out, overwrite: true });
    assert.equal(r.epochsRun, 1);
    const lock = acquireRunLock(out);
    try {
      await assert.rejects(fit({ ...setup(1), ...quiet, outDir: out, resume: true, epochs: 2 }), {
        code: 'GRAFT_RUN_LOCKED',
      });
    } finally {
      lock.release();
    }
    assert.ok(!existsSync(join(out, LOCK_FILE)));
    assert.equal((await fit({ ...setup(1), ...quiet, outDir: out, resume: true, epochs: 2 })).epochsRun, 2);
  });
});
