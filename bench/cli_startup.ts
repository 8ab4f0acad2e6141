// CLI start-up: wall time of whole `graft` processes, median of several runs. Help, usage and
// --version need no tensors and must not load libtorch; `graft info` does load it, for contrast.
// Node's own start-up and tsx's loader (which runs graft's TypeScript in a checkout) are timed alone
// too, so the table shows where the time goes. With dist/ built (`npm run build`) the same commands
// also run as the installed package runs them: compiled JavaScript, no tsx (GRAFT_USE_DIST=1).
//   node --import tsx bench/cli_startup.ts [runs=10]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 10);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'graft.mjs');

const cases: [label: string, args: string[], env?: Record<string, string>][] = [
  ['node -e 0 (node alone)', ['-e', '0']],
  ['tsx loader alone', ['--input-type=module', '-e', "(await import('tsx/esm/api')).register()"]],
  ['graft --version', [bin, '--version']],
  ['graft --help', [bin, '--help']],
  ['graft train --help', [bin, 'train', '--help']],
  ['graft help inspect', [bin, 'help', 'inspect']],
  ['graft info (loads libtorch)', [bin, 'info']],
];
const dist = { GRAFT_USE_DIST: '1' };
if (existsSync(join(root, 'dist', 'cli', 'main.js')))
  cases.push(
    ['dist: graft --version', [bin, '--version'], dist],
    ['dist: graft --help', [bin, '--help'], dist],
    ['dist: graft help inspect', [bin, 'help', 'inspect'], dist],
    ['dist: graft info (libtorch)', [bin, 'info'], dist],
  );
else console.log('(no dist/: `npm run build` adds the compiled package to the table)');

/** Milliseconds of one process, start to exit; throws when it fails. */
function time(args: string[], env: Record<string, string> = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', env: { ...process.env, ...env } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

console.log(`${runs} runs each, node ${process.version}; wall time of the whole process in ms`);
console.log(`${'command'.padEnd(30)} ${'median'.padStart(7)} ${'min'.padStart(7)} ${'max'.padStart(7)}`);
for (const [label, args, env] of cases) {
  time(args, env); // warm the file cache (and tsx's transform cache) first
  const ts = Array.from({ length: runs }, () => time(args, env));
  const f = (x: number) => x.toFixed(0).padStart(7);
  console.log(`${label.padEnd(30)} ${f(median(ts))} ${f(Math.min(...ts))} ${f(Math.max(...ts))}`);
}
