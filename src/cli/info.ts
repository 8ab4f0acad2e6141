// `graft info`: what graft runs on (libtorch version and build, threads, CUDA devices).
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { cuda, getNumThreads, mallocInfo, parallelInfo, torchVersion } from '../tensor/index.ts';

/** GRAFT_MALLOC's setting in words, e.g. "training (mmap threshold 32 MiB, trim threshold 1024 MiB)". */
function mallocText(m: ReturnType<typeof mallocInfo>): string {
  if (!m.glibc) return 'system allocator (not glibc: GRAFT_MALLOC has no effect)';
  if (m.mode === 'default') return "default (glibc's own thresholds)";
  const mib = (b: number) => (b < 0 ? "glibc's" : `${b / 2 ** 20} MiB`);
  const max = m.mmapMax === 0 ? ', no buffer mmapped' : m.mmapMax > 0 ? `, at most ${m.mmapMax} mmapped` : '';
  return `training (mmap threshold ${mib(m.mmapThreshold)}, trim threshold ${mib(m.trimThreshold)}${max})`;
}

export function run(args: string[]): number {
  const m = mallocInfo();
  const facts = {
    libtorch: torchVersion(),
    threads: getNumThreads(),
    cudaDevices: cuda.deviceCount(),
    node: process.version,
  };
  const malloc = {
    mode: m.mode,
    glibc: m.glibc,
    mmapThreshold: m.mmapThreshold,
    trimThreshold: m.trimThreshold,
    mmapMax: m.mmapMax,
  };
  if (args.includes('--json')) console.log(JSON.stringify({ ...facts, malloc }));
  else {
    for (const [k, v] of Object.entries(facts)) console.log(`${k.padEnd(12)} ${v}`);
    console.log(`${'malloc'.padEnd(12)} ${mallocText(m)}`);
    console.log(`\n${parallelInfo().trim()}`);
  }
  return 0;
}
