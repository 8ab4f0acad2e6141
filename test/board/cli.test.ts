// `graft board DIR`: prints its URL, serves the runs, stops cleanly on Ctrl-C (exit 0), and refuses
// a missing folder, a bad port, and a non-loopback host unless --allow-remote (which warns).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.ts';
import { capture } from '../_capture.ts';
import { writeRun } from './_runs.ts';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'graft.mjs');
let tmp: string;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'graft-board-cli-'));
  writeRun(join(tmp, 'runs'), 'first', { lr: 0.1, steps: 2, end: true });
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Starts `graft board ...args`; resolves with the process and the first stdout line. */
function startCli(args: string[]) {
  const child = spawn(process.execPath, [BIN, 'board', ...args], { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  const firstLine = new Promise<string>((ok, ko) => {
    const t = setInterval(() => {
      if (out.includes('\n')) {
        clearInterval(t);
        ok(out.split('\n')[0]!);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(t);
      ko(new Error(`graft board exited (${code}) before printing its URL: ${err}`));
    });
  });
  return { child, firstLine, exited, err: () => err };
}

test('graft board (default DIR runs) prints its URL, serves the runs, and exits 0 on SIGINT', {
  timeout: 30000,
}, async () => {
  const cli = startCli(['--port', '0']);
  const first = await cli.firstLine;
  const url = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(first)?.[1];
  assert.ok(url, first);
  const body = (await (await fetch(`${url}api/runs`)).json()) as { runs: { id: string; status: string }[] };
  assert.deepEqual(
    body.runs.map((r) => [r.id, r.status]),
    [['first', 'finished']],
  );
  cli.child.kill('SIGINT');
  assert.equal(await cli.exited, 0);
});

test('--allow-remote with a non-loopback --host prints a warning', { timeout: 30000 }, async () => {
  const cli = startCli([join(tmp, 'runs'), '--host', '0.0.0.0', '--allow-remote', '--port', '0']);
  await cli.firstLine;
  // stderr and stdout are separate pipes: the warning may arrive a moment after the URL
  for (let i = 0; i < 100 && !cli.err().includes('WARNING'); i++) await new Promise((r) => setTimeout(r, 20));
  assert.match(cli.err(), /WARNING: serving on 0\.0\.0\.0: anyone who can reach this address can read the runs/);
  cli.child.kill('SIGTERM');
  assert.equal(await cli.exited, 0);
});

test('graft board refuses a missing folder, a remote host without --allow-remote, bad flags', async () => {
  const r1 = await capture(() => main(['board', join(tmp, 'missing')]));
  assert.equal(r1.code, 1);
  assert.match(r1.err, /no such folder/);
  const r2 = await capture(() => main(['board', join(tmp, 'runs'), '--host', '0.0.0.0']));
  assert.equal(r2.code, 1);
  assert.match(r2.err, /not a loopback address.*--allow-remote/);
  const r3 = await capture(() => main(['board', '--port', '99999']));
  assert.equal(r3.code, 2);
  assert.match(r3.err, /--port needs 0\.\.65535/);
  const r4 = await capture(() => main(['board', 'a', 'b']));
  assert.equal(r4.code, 2);
});
