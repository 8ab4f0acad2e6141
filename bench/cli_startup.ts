// CLI start-up: wall time of whole `graft` processes, median of several runs. Help, usage and
// --version need no tensors and must not load libtorch; `graft info` does load it, for contrast.
// Node's own start-up and tsx's loader (which runs graft's TypeScript today) are timed alone too,
// so the table shows where the time goes.
//   node --import tsx bench/cli_startup.ts [runs=10]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const runs = Number(process.argv[2] ?? 10);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'graft.mjs');

const cases: [label: string, args: string[]][] = [
  ['node -e 0 (node alone)', ['-e', '0']],
  ['tsx loader alone', ['--input-type=module', '-e', "(await import('tsx/esm/api')).register()"]],
  ['graft --version', [bin, '--version']],
  ['graft --help', [bin, '--help']],
  ['graft train --help', [bin, 'train', '--help']],
  ['graft help inspect', [bin, 'help', 'inspect']],
  ['graft info (loads libtorch)', [bin, 'info']],
];

/** Milliseconds of one process, start to exit; throws when it fails. */
function time(args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
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
for (const [label, args] of cases) {
  time(args); // warm the file cache (and tsx's transform cache) first
  const ts = Array.from({ length: runs }, () => time(args));
  const f = (x: number) => x.toFixed(0).padStart(7);
  console.log(`${label.padEnd(30)} ${f(median(ts))} ${f(Math.min(...ts))} ${f(Math.max(...ts))}`);
}
