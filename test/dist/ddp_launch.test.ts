// The launcher with stand-in workers (plain node scripts, no libtorch): the torchrun variables,
// rank-prefixed output, fail-fast with the failing rank named, signals forwarded once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freePort, launch, launcherArgs, parseMaster, workerEnv } from '../../src/dist/launch.ts';

const node = (src: string) => [process.execPath, '-e', src];

async function run(src: string, o: { nproc?: number; graceMs?: number; plainStdout?: boolean } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await launch({
    nproc: o.nproc ?? 2,
    args: [],
    command: node(src),
    stdout: (l) => out.push(l),
    stderr: (l) => err.push(l),
    graceMs: o.graceMs ?? 5000,
    plainStdout: o.plainStdout,
  });
  return { code, out, err };
}

test('workers get the torchrun variables and their lines come back prefixed by rank', async () => {
  const r = await run(
    `const e = process.env; console.log([e.RANK, e.WORLD_SIZE, e.LOCAL_RANK, e.LOCAL_WORLD_SIZE, e.MASTER_ADDR, e.MASTER_PORT > 0, e.GRAFT_NUM_THREADS > 0, e.GRAFT_LAUNCHER_PID === String(process.ppid)].join(' ')); console.error('err line'); process.stdout.write('no newline')`,
  );
  assert.equal(r.code, 0);
  const lines = r.out.sort();
  assert.deepEqual(lines, [
    '[0] 0 2 0 2 127.0.0.1 true true true',
    '[0] no newline',
    '[1] 1 2 1 2 127.0.0.1 true true true',
    '[1] no newline',
  ]);
  assert.deepEqual(r.err.sort(), ['[0] err line', '[1] err line']);
  // --json: rank 0's stdout is the result, left as it is
  const json = await run(`console.log(JSON.stringify({ rank: process.env.RANK }))`, { plainStdout: true });
  assert.deepEqual(json.out.sort(), ['[1] {"rank":"1"}', '{"rank":"0"}']);
  // several machines: global ranks from the node's rank
  assert.deepEqual(workerEnv({ nproc: 2, nnodes: 3, nodeRank: 2, master: { host: 'h', port: 5 } }, 1), {
    RANK: '5',
    WORLD_SIZE: '6',
    LOCAL_RANK: '1',
    LOCAL_WORLD_SIZE: '2',
    GROUP_RANK: '2',
    MASTER_ADDR: 'h',
    MASTER_PORT: '5',
  });
});

test('one worker failing stops the others at once and the launcher exits non-zero naming it', async () => {
  const t0 = Date.now();
  // rank 1 fails after a moment; rank 0 would run for a minute
  const r = await run(
    `if (process.env.RANK === '1') setTimeout(() => process.exit(3), 200); else setTimeout(() => {}, 60000)`,
  );
  assert.equal(r.code, 3);
  assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
  assert.match(r.err.join('\n'), /rank 1 exited with code 3; stopping the other 1 worker/);
  // a worker killed by a signal: 128 + its number
  const k = await run(
    `if (process.env.RANK === '0') process.kill(process.pid, 'SIGKILL'); else setTimeout(() => {}, 60000)`,
  );
  assert.equal(k.code, 137);
  assert.match(k.err.join('\n'), /rank 0 was killed by SIGKILL/);
  // a worker that ignores SIGTERM is killed after the grace time
  const stubborn = await run(
    `process.on('SIGTERM', () => {}); if (process.env.RANK === '1') setTimeout(() => process.exit(1), 100); else setInterval(() => {}, 1000)`,
    { graceMs: 300 },
  );
  assert.equal(stubborn.code, 1);
});

test('a stop signal reaches every worker once; the launcher exits with their code', async () => {
  const src = `let n = 0; process.on('SIGINT', () => { n++; setTimeout(() => { console.log('got ' + n); process.exit(130); }, 300); }); console.log('ready'); setInterval(() => {}, 1000)`;
  const out: string[] = [];
  const p = launch({ nproc: 2, args: [], command: node(src), stdout: (l) => out.push(l), stderr: () => {} });
  while (out.filter((l) => l.endsWith('ready')).length < 2) await new Promise((r) => setTimeout(r, 20));
  process.emit('SIGINT', 'SIGINT');
  assert.equal(await p, 130);
  assert.deepEqual(out.filter((l) => l.includes('got')).sort(), ['[0] got 1', '[1] got 1']);
});

test('launcher flags are taken out of the workers command line; --master is checked', async () => {
  assert.deepEqual(
    launcherArgs(['r.yaml', '--nproc', '2', '--master=h:1', '--nnodes', '2', '--node-rank', '1', '--quiet']),
    ['r.yaml', '--quiet'],
  );
  assert.deepEqual(parseMaster('10.0.0.1:29500'), { host: '10.0.0.1', port: 29500 });
  assert.deepEqual(parseMaster('[::1]:80'), { host: '::1', port: 80 });
  assert.throws(() => parseMaster('host'), /--master needs HOST:PORT/);
  await assert.rejects(launch({ nproc: 2, nnodes: 2, args: [] }), /--nnodes 2 needs --master/);
  await assert.rejects(
    launch({ nproc: 2, nnodes: 2, nodeRank: 2, master: 'h:1', args: [] }),
    /--node-rank 2 is outside 0..1/,
  );
  assert.ok((await freePort()) > 0);
});

test('a worker whose launcher is gone stops by itself', async () => {
  const { spawn } = await import('node:child_process');
  const mod = new URL('../../src/dist/launch.ts', import.meta.url).pathname;
  // pid 1 is not this worker's parent: as if the launcher had been killed and the worker adopted
  const p = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `import('${mod}').then((m) => { m.exitWithLauncher({ GRAFT_LAUNCHER_PID: '1' }); setTimeout(() => {}, 20000); })`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const t0 = Date.now();
  const code = await new Promise((r) => p.on('exit', r));
  assert.equal(code, 1);
  assert.match(err, /the launcher \(pid 1\) is gone; this worker stops/);
  assert.ok(Date.now() - t0 < 15_000);
});
