// Run files that cannot be written: a coded error naming the file, no temp file left behind, the
// previous file untouched; `graft report RUN_DIR`; and a closed pipe that does not crash the CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { GraftError } from '../../src/errors.ts';
import { formatRecord, type MetricsRecord, WriteError, writeReport } from '../../src/report/index.ts';
import { capture } from '../_capture.ts';
import { rmDir, tmpDir } from '../train/_helpers.ts';

const RECORDS: MetricsRecord[] = [
  { type: 'run', time: 0, event: 'start', info: { model: 'mlp' } },
  { type: 'step', time: 1, epoch: 0, step: 2, loss: 1, lr: [0.1] },
  { type: 'epoch', time: 2, epoch: 0, step: 2, train: { loss: 1 }, lr: [0.1], lrSteps: [{ step: 0, lr: [0.1] }] },
  { type: 'run', time: 3, event: 'end', epoch: 1, step: 2 },
];

function runDir(): string {
  const dir = tmpDir('graft-report-');
  writeFileSync(join(dir, 'metrics.jsonl'), RECORDS.map((r) => `${formatRecord(r)}\n`).join(''));
  return dir;
}

test('a full disk while writing report.html: a coded error, the temp file removed, the old report kept', async (t) => {
  if (process.platform !== 'linux' || !existsSync('/dev/full')) return t.skip('needs /dev/full (Linux)');
  const dir = runDir();
  try {
    const path = join(dir, 'report.html');
    writeFileSync(path, 'the previous report');
    // the temp file the write goes through leads to a device that is always full
    symlinkSync('/dev/full', `${path}.tmp-${process.pid}`);
    const err = await writeReport(path, RECORDS).then(
      () => assert.fail('written'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WriteError && err instanceof GraftError, String(err));
    assert.equal(err.code, 'GRAFT_DISK_FULL');
    assert.equal(err.errno, 'ENOSPC');
    assert.match(err.message, /cannot write .*report\.html: no space left on the device \(ENOSPC\)/);
    assert.deepEqual(readdirSync(dir).sort(), ['metrics.jsonl', 'report.html']);
    assert.equal(readFileSync(path, 'utf8'), 'the previous report');
  } finally {
    rmDir(dir);
  }
});

test('graft report RUN_DIR renders report.html from metrics.jsonl and prints its path', async () => {
  const dir = runDir();
  try {
    const r = await capture(() => main(['report', dir]));
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), join(dir, 'report.html'));
    assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /<figure id="chart-lr"/);
    const out = join(dir, 'other.html');
    const r2 = await capture(() => main(['report', dir, '--out', out, '--title', 'Mine']));
    assert.equal(r2.out.trim(), out);
    assert.match(readFileSync(out, 'utf8'), /<title>Mine<\/title>/);
    const bad = await capture(() => main(['report', join(dir, 'nope')]));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /no such run folder/);
    const empty = tmpDir('graft-report-');
    const notRun = await capture(() => main(['report', empty]));
    rmDir(empty);
    assert.equal(notRun.code, 1);
    assert.match(notRun.err, /is not a run folder \(no metrics\.jsonl\)/);
    assert.equal((await capture(() => main(['report']))).code, 2);
  } finally {
    rmDir(dir);
  }
});

test('graft with its output pipe closed early (graft ... | head -1) does not crash on EPIPE', async () => {
  const dir = runDir();
  try {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'graft.mjs');
    const child = spawn(process.execPath, [bin, 'report', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    // the reader goes away before graft writes anything
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, err);
    assert.doesNotMatch(err, /EPIPE|Unhandled/);
    // the command still did its work
    assert.ok(existsSync(join(dir, 'report.html')));
  } finally {
    rmDir(dir);
  }
});
