// The downloader against a local server: redirects, range resume after a dropped connection (and
// from an earlier run's partial file), a server without ranges, a corrupt file (refused, nothing
// kept), a 404, timeouts before the answer and mid-file.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { downloadFile, HubCorruptError, HubError, HubNotFoundError, HubTimeoutError } from '../../src/hub/index.ts';
import { sha256, TestServer } from './_server.ts';

const server = new TestServer();
let dir: string;
const bytes = (n: number, seed = 1) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) % 251));
const quiet = { progress: false } as const;

before(async () => {
  await server.start();
  dir = mkdtempSync(join(tmpdir(), 'graft-hub-'));
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a plain download lands in place, verified, with no partial file left', async () => {
  const b = bytes(5000);
  server.files.set('/models/plain-1.bin', { bytes: b });
  const dest = join(dir, 'plain', 'plain-1.bin');
  const r = await downloadFile(`${server.url}/models/plain-1.bin`, dest, { ...quiet, expected: { sha256: sha256(b) } });
  assert.deepEqual(readFileSync(dest), b);
  assert.equal(r.sha256, sha256(b));
  assert.equal(r.attempts, 1);
  assert.ok(!existsSync(`${dest}.incomplete`));
});

test('redirects are followed, absolute and relative, to the file', async () => {
  const b = bytes(3000, 2);
  server.files.set('/store/final.bin', { bytes: b });
  server.redirects.set('/a/hop1', '/a/hop2'); // absolute (the server adds its address)
  server.redirects.set('/a/hop2', '../store/final.bin'); // relative to /a/hop2
  const dest = join(dir, 'redir.bin');
  await downloadFile(`${server.url}/a/hop1`, dest, quiet);
  assert.deepEqual(readFileSync(dest), b);
  assert.deepEqual(
    server.requests('/a/').map((l) => l.url),
    ['/a/hop1', '/a/hop2'],
  );
});

test('a connection dropped mid-file resumes with a Range request from the partial file', async () => {
  const b = bytes(100_000, 3);
  server.files.set('/models/drop.bin', { bytes: b, dropAfter: 30_000, dropTimes: 2 });
  const dest = join(dir, 'drop.bin');
  const r = await downloadFile(`${server.url}/models/drop.bin`, dest, { ...quiet, expected: { sha256: sha256(b) } });
  assert.deepEqual(readFileSync(dest), b);
  assert.equal(r.attempts, 3);
  assert.deepEqual(
    server.requests('/models/drop.bin').map((l) => l.range),
    [undefined, 'bytes=30000-', 'bytes=60000-'],
  );
});

test("an earlier run's partial file is resumed; a server without ranges starts over", async () => {
  const b = bytes(20_000, 4);
  server.files.set('/models/part.bin', { bytes: b });
  const dest = join(dir, 'part.bin');
  writeFileSync(`${dest}.incomplete`, b.subarray(0, 12_345));
  const r = await downloadFile(`${server.url}/models/part.bin`, dest, { ...quiet, expected: { sha256: sha256(b) } });
  assert.equal(r.resumedFrom, 12_345);
  assert.equal(server.requests('/models/part.bin').at(-1)!.range, 'bytes=12345-');
  assert.deepEqual(readFileSync(dest), b);

  server.files.set('/models/noranges.bin', { bytes: b, noRanges: true });
  const d2 = join(dir, 'noranges.bin');
  writeFileSync(`${d2}.incomplete`, Buffer.from('stale bytes of something else'));
  await downloadFile(`${server.url}/models/noranges.bin`, d2, { ...quiet, expected: { sha256: sha256(b) } });
  assert.deepEqual(readFileSync(d2), b, 'a 200 answer replaces the partial file');
});

test('a file whose sha256 does not match is refused and nothing is left behind', async () => {
  const b = bytes(4000, 5);
  server.files.set('/models/bad.bin', { bytes: b });
  const dest = join(dir, 'bad.bin');
  await assert.rejects(
    downloadFile(`${server.url}/models/bad.bin`, dest, { ...quiet, expected: { sha256Prefix: 'deadbeef' } }),
    (e: unknown) => e instanceof HubCorruptError && e.code === 'GRAFT_HUB_CORRUPT' && /deadbeef/.test(e.message),
  );
  assert.ok(!existsSync(dest) && !existsSync(`${dest}.incomplete`));
  await assert.rejects(
    downloadFile(`${server.url}/models/bad.bin`, dest, { ...quiet, expected: { size: 4001 } }),
    HubCorruptError,
  );
  assert.ok(!existsSync(dest) && !existsSync(`${dest}.incomplete`));
});

test('a 404 is HubNotFoundError naming the URL', async () => {
  const dest = join(dir, 'missing.bin');
  await assert.rejects(
    downloadFile(`${server.url}/models/missing.bin`, dest, quiet),
    (e: unknown) => e instanceof HubNotFoundError && e.message.includes('/models/missing.bin') && /404/.test(e.message),
  );
  assert.ok(!existsSync(dest));
});

test('a server that never answers, or stalls mid-file, times out (the partial file is kept to resume)', async () => {
  server.hangPrefix = '/hang/';
  const t0 = Date.now();
  await assert.rejects(
    downloadFile(`${server.url}/hang/x.bin`, join(dir, 'hang.bin'), { ...quiet, timeoutMs: 300 }),
    (e: unknown) => e instanceof HubTimeoutError && e.code === 'GRAFT_HUB_TIMEOUT',
  );
  assert.ok(Date.now() - t0 < 3000);
  const b = bytes(10_000, 6);
  server.files.set('/models/stall.bin', { bytes: b, stallAfter: 4000 });
  const dest = join(dir, 'stall.bin');
  await assert.rejects(
    downloadFile(`${server.url}/models/stall.bin`, dest, { ...quiet, timeoutMs: 300, retries: 0 }),
    HubTimeoutError,
  );
  assert.equal(readFileSync(`${dest}.incomplete`).length, 4000, 'kept for the next run');
  server.files.set('/models/stall.bin', { bytes: b });
  const r = await downloadFile(`${server.url}/models/stall.bin`, dest, { ...quiet, expected: { sha256: sha256(b) } });
  assert.equal(r.resumedFrom, 4000);
  assert.deepEqual(readFileSync(dest), b);
});

test('progress goes to stderr: a start and an end line when stderr is not a terminal', async () => {
  const b = bytes(2000, 7);
  server.files.set('/models/progress.bin', { bytes: b });
  const lines: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => lines.push(String(s)) > 0) as typeof process.stderr.write;
  try {
    await downloadFile(`${server.url}/models/progress.bin`, join(dir, 'progress.bin'), { label: 'progress.bin' });
  } finally {
    process.stderr.write = write;
  }
  if (process.stderr.isTTY) return; // a terminal gets the redrawn line instead
  assert.match(lines[0]!, /^graft: downloading progress\.bin of 2\.0 kB\n$/);
  assert.match(lines.at(-1)!, /^graft: downloaded progress\.bin \(2\.0 kB in [\d.]+ s\)\n$/);
});

test('a cache folder that cannot be written is GRAFT_HUB_WRITE, not a raw file-system error', async () => {
  server.files.set('/models/w.bin', { bytes: bytes(100, 8) });
  const notADir = join(dir, 'a-file');
  writeFileSync(notADir, 'x');
  await assert.rejects(
    downloadFile(`${server.url}/models/w.bin`, join(notADir, 'sub', 'w.bin'), quiet),
    (e: unknown) => e instanceof HubError && e.code === 'GRAFT_HUB_WRITE' && e.message.includes(notADir),
  );
});
