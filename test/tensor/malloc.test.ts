// GRAFT_MALLOC: graft raises glibc's mmap/trim thresholds at load (mode `training`, the default) so
// tensor buffers freed at the end of a training step stay in the heap instead of being unmapped and
// faulted in again; GRAFT_MALLOC=default leaves malloc alone. Behaviour, not timings: where a 24 MiB
// tensor's buffer comes from (heap vs its own mmap) tells which thresholds are in effect, so the probes
// give buffers to malloc (GRAFT_ALLOCATOR=malloc); under the default arena they do not reach malloc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MAX_MMAP_THRESHOLD, mallocSettingFromEnv, TRAINING } from '../../src/binding/malloc.ts';
import { ArgumentError } from '../../src/errors.ts';
import { arenaStats, mallocInfo, zeros } from '../../src/tensor/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 2 ** 20;

/** Runs `graft info --json` and a 24 MiB allocation in a fresh process (malloc as libtorch's allocator) with the given GRAFT_MALLOC* env. */
function probe(env: Record<string, string>) {
  const script = `
    import { main } from './src/cli/main.ts';
    import { mallocInfo, zeros } from './src/tensor/index.ts';
    const log = console.log; let info = '';
    console.log = (s) => { info = s; };
    await main(['info', '--json']);
    console.log = log;
    const before = mallocInfo();
    const t = zeros([6, 2 ** 20]); // float32: 24 MiB
    const after = mallocInfo();
    t.dispose();
    console.log(JSON.stringify({ info: JSON.parse(info), mmapGrowth: after.mmapBytes - before.mmapBytes }));
  `;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GRAFT_MALLOC')));
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...clean, GRAFT_ALLOCATOR: 'malloc', ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    info: { malloc: { mode: string; glibc: boolean; mmapThreshold: number; trimThreshold: number; mmapMax: number } };
    mmapGrowth: number;
  };
}

test('GRAFT_MALLOC parsing: unset is training, default leaves malloc, sizes take K/M/G, bad values are errors', () => {
  assert.deepEqual(mallocSettingFromEnv({}), { mode: 'training', ...TRAINING });
  assert.deepEqual(mallocSettingFromEnv({ GRAFT_MALLOC: 'default', GRAFT_MALLOC_MMAP_THRESHOLD: '1M' }), {
    mode: 'default',
    mmapThreshold: -1,
    trimThreshold: -1,
    mmapMax: -1,
  });
  const tuned = mallocSettingFromEnv({
    GRAFT_MALLOC: 'training',
    GRAFT_MALLOC_MMAP_THRESHOLD: '16M',
    GRAFT_MALLOC_TRIM_THRESHOLD: '512MiB',
    GRAFT_MALLOC_MMAP_MAX: '64K',
  });
  assert.deepEqual(tuned, { mode: 'training', mmapThreshold: 16 * MiB, trimThreshold: 512 * MiB, mmapMax: 65536 });
  assert.equal(mallocSettingFromEnv({ GRAFT_MALLOC_MMAP_THRESHOLD: '65536' }).mmapThreshold, 65536);
  assert.throws(() => mallocSettingFromEnv({ GRAFT_MALLOC: 'fast' }), ArgumentError);
  assert.throws(
    () => mallocSettingFromEnv({ GRAFT_MALLOC_MMAP_THRESHOLD: 'lots' }),
    /GRAFT_MALLOC_MMAP_THRESHOLD=lots/,
  );
  // glibc refuses more than 32 MiB; say so here rather than have mallopt fail at load
  assert.throws(
    () => mallocSettingFromEnv({ GRAFT_MALLOC_MMAP_THRESHOLD: String(MAX_MMAP_THRESHOLD + 1) }),
    ArgumentError,
  );
});

test('this process loaded with the training setup: thresholds in effect, a 24 MiB buffer is not mmapped', () => {
  const m = mallocInfo();
  // nothing to set on other C libraries; a GRAFT_MALLOC* variable in the caller's env changes the setup
  if (!m.glibc || Object.keys(process.env).some((k) => k.startsWith('GRAFT_MALLOC'))) return;
  assert.equal(m.mode, 'training');
  assert.equal(m.mmapThreshold, TRAINING.mmapThreshold);
  assert.equal(m.trimThreshold, TRAINING.trimThreshold);
  assert.equal(m.mmapMax, 0);
  const arena = arenaStats();
  const t = zeros([6, 2 ** 20]); // float32: 24 MiB
  assert.equal(mallocInfo().mmapBytes, m.mmapBytes);
  // under the default arena the buffer is not malloc's at all
  if (arena.active) assert.equal(arenaStats().liveBytes - arena.liveBytes, 24 * MiB);
  t.dispose();
});

test('graft info --json reports the setting; GRAFT_MALLOC=default leaves glibc malloc untouched', () => {
  const training = probe({});
  if (!training.info.malloc.glibc) return;
  assert.deepEqual(training.info.malloc, {
    mode: 'training',
    glibc: true,
    mmapThreshold: 32 * MiB,
    trimThreshold: 1024 * MiB,
    mmapMax: 0,
  });
  // (net change of every mmapped block: Node 22 may unmap a small one of its own meanwhile)
  assert.ok(
    Math.abs(training.mmapGrowth) < MiB,
    `under the training thresholds a 24 MiB buffer is not mmapped (grew ${training.mmapGrowth} bytes)`,
  );

  const untouched = probe({ GRAFT_MALLOC: 'default' });
  assert.deepEqual(untouched.info.malloc, {
    mode: 'default',
    glibc: true,
    mmapThreshold: -1,
    trimThreshold: -1,
    mmapMax: -1,
  });
  // glibc's own threshold (128 KiB, rising only after a large mmapped block is freed) mmaps it
  // net growth: a small mmapped block freed meanwhile (Node 22 frees some) may take a little off
  assert.ok(untouched.mmapGrowth >= 20 * MiB, `mmapped ${untouched.mmapGrowth} bytes`);

  // tuning: mmapping allowed again (glibc's count) above a 1 MiB threshold
  const tuned = probe({ GRAFT_MALLOC_MMAP_THRESHOLD: '1M', GRAFT_MALLOC_MMAP_MAX: '65536' });
  assert.equal(tuned.info.malloc.mmapThreshold, MiB);
  assert.equal(tuned.info.malloc.mmapMax, 65536);
  assert.ok(tuned.mmapGrowth >= 24 * MiB, 'a 1 MiB threshold mmaps the 24 MiB buffer again');
});
