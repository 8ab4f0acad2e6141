// Hugging Face Hub downloads against a local server in the Hub's layout, into huggingface_hub's
// cache layout: blobs named by ETag, snapshots/<commit> symlinks, refs/<revision>; ETags reused,
// revisions pinned, safetensors preferred over pytorch_model.bin, shards fetched by their index,
// offline from the cache, renamed repositories, corrupt blobs refused.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import {
  HubCorruptError,
  HubNotFoundError,
  HubOfflineError,
  HubTimeoutError,
  hfDownload,
  hfModelCached,
  hfModelDownload,
  repoFolder,
} from '../../src/hub/index.ts';
import { gitSha1, sha256, TestServer } from './_server.ts';
import { cifarState, pthBytes, safetensorsBytes, shardedFiles } from './_weights.ts';

const C1 = '1'.repeat(40);
const C2 = 'a2'.repeat(20);
const server = new TestServer();
let home: string;
const cache = () => join(home, 'hub');
const quiet = { progress: false } as const;
const config = Buffer.from('{"architectures": ["CifarNet"]}\n');

before(async () => {
  await server.start();
  process.env.HF_ENDPOINT = server.url;
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
});
after(() => server.stop());
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'graft-hf-'));
  process.env.HF_HOME = home;
  delete process.env.HF_HUB_OFFLINE;
  server.log.length = 0;
});

test('a file lands as blobs/<etag> with a snapshot symlink and refs/main; the ETag makes the second call GET nothing', async () => {
  const weights = safetensorsBytes(cifarState(1));
  server.repos.set('org/net', {
    commits: { [C2]: { 'config.json': config, 'model.safetensors': weights } },
    refs: { main: C2 },
  });
  const p = await hfDownload('org/net', 'model.safetensors', quiet);
  const folder = repoFolder('org/net', cache());
  assert.equal(folder, join(home, 'hub', 'models--org--net'));
  assert.equal(p, join(folder, 'snapshots', C2, 'model.safetensors'));
  assert.ok(lstatSync(p).isSymbolicLink());
  assert.equal(readlinkSync(p), join('..', '..', 'blobs', sha256(weights)), 'relative link to the LFS sha256');
  assert.deepEqual(readFileSync(p), weights);
  assert.equal(readFileSync(join(folder, 'refs', 'main'), 'utf8'), C2);
  const cfg = await hfDownload('org/net', 'config.json', quiet);
  assert.ok(existsSync(join(folder, 'blobs', gitSha1(config))), 'a git file is named by its blob id');
  assert.deepEqual(readFileSync(cfg), config);
  assert.equal(server.requests('/cdn/', 'GET').length, 1, 'the LFS file came from the CDN redirect');
  server.log.length = 0;
  assert.equal(await hfDownload('org/net', 'model.safetensors', quiet), p);
  assert.deepEqual(
    server.log.map((l) => l.method),
    ['HEAD'],
    'same commit and ETag: nothing downloaded',
  );
});

test('HF_HUB_OFFLINE=1 answers from the cache without a request; a file not there is HubOfflineError', async () => {
  server.repos.set('org/off', {
    commits: { [C2]: { 'model.safetensors': safetensorsBytes(cifarState(2)) } },
    refs: { main: C2 },
  });
  const online = await hfModelDownload('org/off', quiet);
  process.env.HF_HUB_OFFLINE = '1';
  server.log.length = 0;
  const offline = await hfModelDownload('org/off', quiet);
  assert.deepEqual(offline, online);
  assert.equal(server.log.length, 0);
  await assert.rejects(
    hfDownload('org/off', 'tokenizer.json', quiet),
    (e: unknown) =>
      e instanceof HubOfflineError && e.code === 'GRAFT_HUB_OFFLINE' && /not in the cache/.test(e.message),
  );
  await assert.rejects(hfModelDownload('org/never', quiet), HubOfflineError);
  assert.equal(server.log.length, 0);
});

test('revisions pin: a tag, a branch and a commit hash each get their own snapshot', async () => {
  const v1 = safetensorsBytes(cifarState(3));
  const v2 = safetensorsBytes(cifarState(4));
  server.repos.set('org/pinned', {
    commits: { [C1]: { 'model.safetensors': v1 }, [C2]: { 'model.safetensors': v2 } },
    refs: { main: C2, v1: C1 },
  });
  const tag = await hfModelDownload('org/pinned', { ...quiet, revision: 'v1' });
  const main = await hfModelDownload('org/pinned', quiet);
  assert.equal(tag.commit, C1);
  assert.equal(main.commit, C2);
  assert.deepEqual(readFileSync(tag.weights), v1);
  assert.deepEqual(readFileSync(main.weights), v2);
  const folder = repoFolder('org/pinned', cache());
  assert.equal(readFileSync(join(folder, 'refs', 'v1'), 'utf8'), C1);
  assert.deepEqual(readdirSync(join(folder, 'snapshots')).sort(), [C1, C2].sort());
  const byHash = await hfModelDownload('org/pinned', { ...quiet, revision: C1 });
  assert.equal(byHash.weights, tag.weights);
  assert.deepEqual(readdirSync(join(folder, 'refs')).sort(), ['main', 'v1'], 'a commit hash writes no ref');
  assert.deepEqual(hfModelCached('org/pinned', { revision: 'v1', cacheDir: cache() })?.weights, tag.weights);
  await assert.rejects(
    hfModelDownload('org/pinned', { ...quiet, revision: 'v9' }),
    (e: unknown) => e instanceof HubNotFoundError && e.missing === 'revision',
  );
});

test('safetensors are preferred over pytorch_model.bin; a repository with only the .bin gets it', async () => {
  const sd = cifarState(5);
  server.repos.set('org/both', {
    commits: { [C2]: { 'model.safetensors': safetensorsBytes(sd), 'pytorch_model.bin': pthBytes(sd) } },
    refs: { main: C2 },
    lfs: () => true,
  });
  const both = await hfModelDownload('org/both', quiet);
  assert.deepEqual(both.files, ['model.safetensors']);
  assert.equal(server.requests('/org/both/resolve/main/pytorch_model.bin').length, 0);

  server.repos.set('org/bin', {
    commits: { [C2]: { 'pytorch_model.bin': pthBytes(sd) } },
    refs: { main: C2 },
    lfs: () => true,
  });
  const bin = await hfModelDownload('org/bin', quiet);
  assert.deepEqual(bin.files, ['pytorch_model.bin']);
  const noExist = join(repoFolder('org/bin', cache()), '.no_exist', C2);
  assert.ok(existsSync(join(noExist, 'model.safetensors')), 'huggingface_hub remembers files a commit lacks');
  process.env.HF_HUB_OFFLINE = '1';
  assert.equal((await hfModelDownload('org/bin', quiet)).weights, bin.weights);
});

test('sharded safetensors: the index and every shard it names, from one commit', async () => {
  const files = shardedFiles(cifarState(6));
  server.repos.set('org/sharded', { commits: { [C2]: { 'config.json': config, ...files } }, refs: { main: C2 } });
  const got = await hfModelDownload('org/sharded', quiet);
  assert.deepEqual(got.files, [
    'config.json',
    'model.safetensors.index.json',
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
  ]);
  assert.equal(got.weights, join(got.dir, 'model.safetensors.index.json'));
  for (const n of got.files) assert.deepEqual(readFileSync(join(got.dir, n)), n === 'config.json' ? config : files[n]);
  const shardHeads = server
    .requests('/org/sharded/resolve/', 'HEAD')
    .map((l) => l.url.split('/resolve/')[1]!.split('/')[0]);
  assert.deepEqual(
    new Set(shardHeads.slice(1)),
    new Set([C2]),
    'after the first answer, files are asked for by commit',
  );
});

test('a renamed repository is followed (relative redirect); a missing one is HubNotFoundError', async () => {
  server.repos.set('neworg/net', {
    commits: { [C2]: { 'model.safetensors': safetensorsBytes(cifarState(7)) } },
    refs: { main: C2 },
  });
  server.renamed.set('oldorg/net', 'neworg/net');
  const got = await hfModelDownload('oldorg/net', quiet);
  assert.ok(got.dir.includes('models--oldorg--net'), 'cached under the name asked for');
  await assert.rejects(
    hfModelDownload('org/nothing-here', quiet),
    (e: unknown) => e instanceof HubNotFoundError && e.missing === 'repository' && e.code === 'GRAFT_HUB_NOT_FOUND',
  );
});

test('a blob whose bytes do not hash to its ETag is refused: no blob, no partial, no snapshot entry', async () => {
  const good = safetensorsBytes(cifarState(8));
  server.repos.set('org/corrupt', { commits: { [C2]: { 'model.safetensors': good } }, refs: { main: C2 } });
  const bad = Buffer.from(good);
  bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1);
  server.cdnServe(sha256(good), { bytes: bad });
  await assert.rejects(hfModelDownload('org/corrupt', quiet), HubCorruptError);
  const folder = repoFolder('org/corrupt', cache());
  assert.deepEqual(readdirSync(join(folder, 'blobs')), []);
  assert.ok(!existsSync(join(folder, 'snapshots', C2, 'model.safetensors')));
});

test('a dropped CDN connection resumes from blobs/<etag>.incomplete', async () => {
  const good = safetensorsBytes(cifarState(9));
  server.repos.set('org/drop', { commits: { [C2]: { 'model.safetensors': good } }, refs: { main: C2 } });
  server.cdnServe(sha256(good), { bytes: good, dropAfter: 5000 });
  const got = await hfModelDownload('org/drop', quiet);
  assert.deepEqual(readFileSync(got.weights), good);
  assert.deepEqual(
    server.requests('/cdn/').map((l) => l.range),
    [undefined, 'bytes=5000-'],
  );
});

test('when the Hub does not answer, a cached file is used (with a warning); an uncached one times out', async () => {
  server.repos.set('org/fallback', {
    commits: { [C2]: { 'model.safetensors': safetensorsBytes(cifarState(10)) } },
    refs: { main: C2 },
  });
  const p = await hfDownload('org/fallback', 'model.safetensors', quiet);
  server.hangPrefix = '/org/fallback/';
  const warnings: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((s: string) => warnings.push(String(s)) > 0) as typeof process.stderr.write;
  try {
    assert.equal(await hfDownload('org/fallback', 'model.safetensors', { ...quiet, timeoutMs: 300 }), p);
  } finally {
    process.stderr.write = write;
  }
  assert.match(
    warnings.join(''),
    /did not answer \(GRAFT_HUB_TIMEOUT\); using the cached org\/fallback\/model.safetensors/,
  );
  await assert.rejects(hfDownload('org/fallback', 'config.json', { ...quiet, timeoutMs: 300 }), HubTimeoutError);
  server.hangPrefix = undefined;
});
