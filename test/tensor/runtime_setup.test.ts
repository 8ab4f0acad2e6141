// What the addon sets up at load besides malloc: OpenMP's wait (GRAFT_OMP_SPIN, or the user's own
// OMP_WAIT_POLICY / GOMP_SPINCOUNT, taken out of process.env again after the load so child processes
// keep their defaults) and the thread count (affinity, physical cores, cgroup CPU quota), as
// `graft doctor` reports them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cgroupCpuLimit, cgroupMemoryLimit, chooseThreads, cpuList, physicalCores } from '../../src/binding/machine.ts';
import { DEFAULT_SPIN, ompSettingFromEnv } from '../../src/binding/omp.ts';
import { ArgumentError } from '../../src/errors.ts';
import { runtimeSettings } from '../../src/tensor/index.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'graft.mjs');

test('GRAFT_OMP_SPIN: a short spin by default, passive or a count on request, the user’s OpenMP variables win', () => {
  assert.deepEqual(ompSettingFromEnv({}), {
    spinCount: String(DEFAULT_SPIN),
    from: 'graft',
    added: { GOMP_SPINCOUNT: String(DEFAULT_SPIN) },
  });
  assert.deepEqual(ompSettingFromEnv({ GRAFT_OMP_SPIN: 'passive' }), {
    waitPolicy: 'PASSIVE',
    from: 'graft',
    added: { OMP_WAIT_POLICY: 'PASSIVE' },
  });
  assert.deepEqual(ompSettingFromEnv({ GRAFT_OMP_SPIN: '2000' }), {
    spinCount: '2000',
    from: 'graft',
    added: { GOMP_SPINCOUNT: '2000' },
  });
  assert.deepEqual(ompSettingFromEnv({ GRAFT_OMP_SPIN: '2000', OMP_WAIT_POLICY: 'active' }), {
    waitPolicy: 'active',
    spinCount: undefined,
    from: 'environment',
    added: {},
  });
  assert.throws(() => ompSettingFromEnv({ GRAFT_OMP_SPIN: 'fast' }), ArgumentError);
});

/** A fake /proc and /sys: 4 CPUs in 2 cores (hyper-threads 0,2 and 1,3), allowed 0-3, and cgroup files. */
function fakeRoot(cgroup: string, files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'graft-machine-'));
  const put = (p: string, text: string) => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  put('/proc/self/cgroup', cgroup);
  put('/proc/self/status', 'Name:\tnode\nCpus_allowed_list:\t0-3\n');
  for (let c = 0; c < 4; c++) {
    put(`/sys/devices/system/cpu/cpu${c}/topology/thread_siblings_list`, c % 2 === 0 ? '0,2\n' : '1,3\n');
    put(`/sys/devices/system/cpu/cpu${c}/topology/physical_package_id`, '0\n');
  }
  for (const [p, text] of Object.entries(files)) put(p, text);
  return root;
}

test('machine facts: physical cores count hyper-threads once; cgroup v2 and v1 quotas and memory limits', () => {
  assert.deepEqual(cpuList('0-3,8,10-11'), [0, 1, 2, 3, 8, 10, 11]);
  const v2 = fakeRoot('0::/job\n', {
    '/sys/fs/cgroup/job/cpu.max': '150000 100000\n',
    '/sys/fs/cgroup/job/memory.max': '4294967296\n',
  });
  const v1 = fakeRoot('4:memory:/a\n2:cpu,cpuacct:/b\n', {
    '/sys/fs/cgroup/cpu/b/cpu.cfs_quota_us': '100000\n',
    '/sys/fs/cgroup/cpu/b/cpu.cfs_period_us': '100000\n',
    '/sys/fs/cgroup/memory/a/memory.limit_in_bytes': '9223372036854771712\n',
  });
  const none = fakeRoot('0::/\n', { '/sys/fs/cgroup/cpu.max': 'max 100000\n' });
  try {
    assert.equal(physicalCores(v2), 2);
    assert.equal(physicalCores(v2, [0, 2]), 1);
    assert.equal(cgroupCpuLimit(v2), 2); // 1.5 CPUs: 2 threads, rounded up
    assert.equal(cgroupMemoryLimit(v2), 4294967296);
    assert.equal(cgroupCpuLimit(v1), 1);
    assert.equal(cgroupMemoryLimit(v1), undefined); // v1's "no limit"
    assert.equal(cgroupCpuLimit(none), undefined);
    const fixed = chooseThreads({ GRAFT_NUM_THREADS: '3' }, v1);
    assert.equal(fixed.threads, 3);
    assert.equal(fixed.from, 'GRAFT_NUM_THREADS');
    const quota = chooseThreads({}, v1);
    assert.equal(quota.threads, 1);
    assert.equal(quota.from, 'cgroup CPU quota');
    const cores = chooseThreads({}, none);
    assert.equal(cores.threads, Math.min(2, availableParallelism()));
  } finally {
    for (const r of [v2, v1, none]) rmSync(r, { recursive: true, force: true });
  }
});

test('this process: the OpenMP variables graft set for libtorch are gone from process.env again', () => {
  const s = runtimeSettings();
  if (s.omp.from !== 'graft') return; // the caller set OMP_WAIT_POLICY / GOMP_SPINCOUNT
  assert.equal(process.env.OMP_WAIT_POLICY, undefined);
  assert.equal(process.env.GOMP_SPINCOUNT, undefined);
  assert.equal(s.threads.current, s.threads.threads);
});

test('graft doctor reports threads with their reason, the OpenMP wait and the memory setup', () => {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(GRAFT_OMP_SPIN|OMP_WAIT_POLICY|GOMP_SPINCOUNT|GRAFT_MALLOC|GRAFT_ALLOCATOR)/.test(k),
    ),
  );
  const run = (env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [BIN, 'doctor', '--json'], {
      encoding: 'utf8',
      env: { ...clean, GRAFT_NUM_THREADS: '1', ...env },
      timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const { checks } = JSON.parse(r.stdout) as { checks: { name: string; ok: boolean; value: string }[] };
    return Object.fromEntries(checks.map((c) => [c.name, c]));
  };
  const plain = run({});
  assert.match(plain.threads!.value, /^1 \(GRAFT_NUM_THREADS; \d+ CPUs available/);
  assert.equal(plain.openmp!.value, `GOMP_SPINCOUNT=${DEFAULT_SPIN} (graft; GRAFT_OMP_SPIN sets it)`);
  assert.match(
    plain.memory!.value,
    /^malloc training .*, allocator arena \(buffers from 64 KiB in an address range of their own\)$/,
  );
  assert.ok(plain.memory!.ok);
  const tuned = run({ GRAFT_OMP_SPIN: 'passive', GRAFT_ALLOCATOR: 'caching', GRAFT_ALLOCATOR_CAP: '512M' });
  assert.equal(tuned.openmp!.value, 'OMP_WAIT_POLICY=PASSIVE (graft; GRAFT_OMP_SPIN sets it)');
  assert.match(tuned.memory!.value, /allocator caching \(cap 512 MiB, from 64 KiB\)$/);
  assert.ok(tuned.memory!.ok);
  const user = run({ OMP_WAIT_POLICY: 'ACTIVE' });
  assert.equal(user.openmp!.value, 'OMP_WAIT_POLICY=ACTIVE (from the environment)');
});
