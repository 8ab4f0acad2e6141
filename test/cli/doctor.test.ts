// `graft doctor` and `graft setup`: what they report about this checkout (libtorch found, addon
// built and loading), what they say when libtorch cannot be found, and how the BLAS in use is read.
// The package test (test/package) covers a missing addon in an installed package.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadedBlas } from '../../src/cli/doctor.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'graft.mjs');
const graft = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });

interface Check {
  name: string;
  ok: boolean;
  value: string;
  fix?: string;
}

test('graft doctor --json: libtorch with its version, the addon loads, threads, BLAS and CUDA', () => {
  const r = graft(['doctor', '--json'], { GRAFT_NUM_THREADS: '1' });
  assert.equal(r.status, 0, r.stderr);
  const { ok, checks } = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
  assert.ok(ok);
  const by = Object.fromEntries(checks.map((c) => [c.name, c]));
  assert.deepEqual(Object.keys(by), [
    'node',
    'graft',
    'libtorch',
    'addon',
    'torch',
    'threads',
    'openmp',
    'memory',
    'blas',
    'cuda',
  ]);
  assert.match(by.libtorch!.value, /^\d+\.\d+\.\d+ from /);
  // the version read from the headers is the one the loaded library reports
  assert.ok(by.libtorch!.value.startsWith(by.torch!.value), `${by.libtorch!.value} vs ${by.torch!.value}`);
  assert.match(by.addon!.value, /graft\.node loads/);
  assert.match(by.threads!.value, /^1 \(GRAFT_NUM_THREADS;/);
  assert.ok(by.node!.ok === Number(process.versions.node.split('.')[0]) >= 22);
});

test('a GRAFT_LIBTORCH without libtorch fails doctor (exit 1, with the fix) and setup (exit 1)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-doctor-'));
  try {
    const r = graft(['doctor'], { GRAFT_LIBTORCH: dir });
    assert.equal(r.status, 1);
    assert.match(r.stdout, new RegExp(`FAIL {2}libtorch {2}GRAFT_LIBTORCH=${dir} has no include/ATen/ATen.h`));
    assert.match(r.stdout, /fix or unset GRAFT_LIBTORCH/);
    const s = graft(['setup'], { GRAFT_LIBTORCH: dir });
    assert.equal(s.status, 1);
    assert.match(s.stderr, /^graft setup: GRAFT_LIBTORCH=.* has no include\/ATen\/ATen\.h/);
    assert.doesNotMatch(s.stderr, /\n {4}at /, 'no stack trace');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// (a successful setup is in test/package: here it could rebuild the addon every test shares)
test('graft setup: unknown flags are usage errors', () => {
  const u = graft(['setup', '--fast']);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /usage: graft setup/);
});

test('loadedBlas reads the BLAS, LAPACK and MKL libraries from a process map', () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-maps-'));
  try {
    const maps = join(dir, 'maps');
    writeFileSync(
      maps,
      [
        '7f00-7f10 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so',
        '7f10-7f20 r--p 00010000 08:01 1 /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so',
        '7f20-7f30 r-xp 00000000 08:01 2 /usr/lib/x86_64-linux-gnu/libtorch_cpu.so.1.13',
        '7f30-7f40 r-xp 00000000 08:01 3 /opt/intel/lib/libmkl_core.so.2',
        '7f40-7f50 rw-p 00000000 00:00 0 [heap]',
        '7f50-7f60 r-xp 00000000 08:01 4 /usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0',
      ].join('\n'),
    );
    assert.deepEqual(loadedBlas(maps), [
      '/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so',
      '/opt/intel/lib/libmkl_core.so.2',
      '/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0',
    ]);
    assert.equal(loadedBlas(join(dir, 'absent')), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
