// The bench harness's fairness pieces: the PyTorch side's environment carries none of graft's
// OpenMP/malloc settings, a side process answers the line protocol, and the load of other processes
// is measured (a busy sibling process shows up, the measured process does not).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { measureLoad } from '../../bench/_proc.ts';
import { startSide, torchSideEnv } from '../../bench/_side.ts';

test('the PyTorch side gets the environment less graft settings, plus GRAFT_BENCH_TORCH_ENV', () => {
  const env = torchSideEnv({
    PATH: '/usr/bin',
    HOME: '/root',
    OMP_WAIT_POLICY: 'PASSIVE',
    GOMP_SPINCOUNT: '1000',
    MALLOC_ARENA_MAX: '2',
    GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=1',
    GRAFT_MALLOC: 'training',
    GRAFT_BENCH_TORCH_ENV: '{"OMP_NUM_THREADS":"1"}',
  });
  assert.deepEqual(env, { PATH: '/usr/bin', HOME: '/root', OMP_NUM_THREADS: '1' });
});

test('a side answers MODE N lines with JSON, skipping other output', async () => {
  const script = `
    console.log('a warning line');
    console.log(JSON.stringify({ ready: true, pid: process.pid }));
    require('readline').createInterface({ input: process.stdin }).on('line', (l) => {
      const [mode, n] = l.split(' ');
      console.log(mode === 'bad' ? JSON.stringify({ error: 'no such mode' }) : JSON.stringify({ mode, twice: 2 * Number(n) }));
    });`;
  const side = await startSide(process.execPath, ['-e', script], process.env);
  try {
    assert.equal(side.hello.ready, true);
    assert.equal(side.hello.pid, side.pid);
    assert.deepEqual(await side.ask('x', 21), { mode: 'x', twice: 42 });
    await assert.rejects(side.ask('bad', 1), /bad: no such mode/);
  } finally {
    side.close();
  }
});

test('load from other processes is measured; the measured process is left out', {
  skip: process.platform !== 'linux',
}, async () => {
  // one busy process, measured twice over the same interval: once named as the measured process,
  // once not; only the second counts its time as other load
  const spinner = spawn(process.execPath, ['-e', 'const e = Date.now() + 800; while (Date.now() < e);']);
  const named = measureLoad(() => [spinner.pid!]);
  const unnamed = measureLoad(() => []);
  await new Promise((r) => setTimeout(r, 600));
  const [a, b] = [named.end(), unnamed.end()];
  spinner.kill();
  assert.ok(Number.isFinite(a.others) && a.others >= 0);
  assert.ok(
    b.others > a.others + 0.1,
    `the spinner counts as other load only when not named: ${b.others} vs ${a.others}`,
  );
});
