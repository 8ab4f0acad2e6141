// Real signals to `graft train` in a child process, on in-memory data (IDX images and tokenized
// text: the loader never waits on I/O, so a handler only runs if the loop yields): SIGINT, SIGTERM and SIGHUP stop the
// run at the next step with a checkpoint (exit 130 / 143 / 143); a second Ctrl-C quits at once but
// never inside a checkpoint write. While a run goes, a second train or resume into its folder is
// refused and the running one is not disturbed.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  checkpointAt,
  graft,
  graftChild,
  stepLosses,
  temps,
  waitFor,
  withTmp,
  writeIdx,
  writeRecipe,
  writeTextRecipe,
} from './_run.ts';

const LONG = ['--set', 'phases[0].epochs=400', '--quiet'];

test('SIGINT, SIGTERM and SIGHUP stop at the next step with a checkpoint: exit 130, 143, 143', {
  timeout: 600_000,
}, async () => {
  await withTmp(async (dir) => {
    const recipe = writeRecipe(dir, writeIdx(join(dir, 'idx')));
    const text = writeTextRecipe(dir);
    const runs = [
      ['SIGINT', 130, recipe],
      ['SIGTERM', 143, recipe],
      ['SIGHUP', 143, recipe],
      ['SIGTERM', 143, text],
    ] as const;
    const kids = runs.map(([sig, code, file], i) => {
      const out = join(dir, `${sig}-${i}`);
      return { sig: sig as NodeJS.Signals, code, out, child: graftChild(['train', file, '--out', out, ...LONG]) };
    });
    // SIGTERM's run also takes the lock drill: a second train / resume into it is refused meanwhile
    const term = kids.find((k) => k.sig === 'SIGTERM')!;
    await waitFor(() => stepLosses(term.out).length >= 2, 180_000, 'the first steps');
    const second = await graft('train', recipe, '--out', term.out, '--quiet');
    assert.equal(second.code, 1);
    assert.match(second.err, /is in use by another run \(pid \d+ on .*started/);
    const resume = await graft('train', '--resume', term.out, '--quiet');
    assert.equal(resume.code, 1);
    assert.match(resume.err, /is in use by another run/);
    const before = stepLosses(term.out).length;
    await waitFor(() => stepLosses(term.out).length > before, 120_000, 'the run going on');

    for (const k of kids) {
      await waitFor(() => stepLosses(k.out).length >= 2, 180_000, `${k.sig}'s first steps`);
      k.child.proc.kill(k.sig);
    }
    for (const k of kids) {
      const e = await k.child.exit;
      assert.equal(e.code, k.code, `${k.sig}: exit ${e.code} ${e.signal}\n${k.child.err()}`);
      assert.match(k.child.out(), new RegExp(`stopped: interrupted \\(${k.sig}\\)`));
      assert.match(k.child.err(), /continue with: graft train --resume/);
      const last = checkpointAt(join(k.out, 'checkpoints', 'last.pth'));
      const logged = stepLosses(k.out).length;
      assert.equal(last.step, logged, `${k.sig}: the checkpoint is at the last step run`);
      // the runs keep training while the others are waited for (a loaded machine: many short epochs)
      assert.ok(last.epoch < 200, `${k.sig}: stopped early (epoch ${last.epoch}), not after 400 epochs`);
      assert.deepEqual(temps(k.out), []);
      assert.ok(!existsSync(join(k.out, 'graft.lock')), 'the lock is gone');
    }
  });
});

test('a second Ctrl-C quits at once, after the checkpoint write in progress: every checkpoint whole', {
  timeout: 600_000,
}, async () => {
  await withTmp(async (dir) => {
    const recipe = writeRecipe(dir, writeIdx(join(dir, 'idx')));
    const out = join(dir, 'run');
    // every step writes last.pth and holds 300 ms inside the write (between temp file and rename)
    const child = graftChild(['train', recipe, '--out', out, ...LONG, '--set', 'train.checkpoint={everySteps: 1}'], {
      GRAFT_TEST_SLOW_WRITE_MS: '300',
    });
    const last = join(out, 'checkpoints', 'last.pth');
    await waitFor(() => existsSync(last), 180_000, 'the first checkpoint');
    await waitFor(() => temps(out).length > 0, 60_000, 'a checkpoint write in progress');
    child.proc.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 30));
    child.proc.kill('SIGINT');
    const e = await child.exit;
    assert.equal(e.code, 130, child.err());
    assert.match(child.err(), /SIGINT again: quitting now/);
    assert.deepEqual(temps(out), [], 'the write in progress finished before the exit');
    const ck = checkpointAt(last);
    assert.ok(ck.step >= 1 && ck.step <= stepLosses(out).length);
  });
});
