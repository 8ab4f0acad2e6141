// `graft info`: what graft runs on (libtorch version and build, threads, CUDA devices).
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { cuda, getNumThreads, parallelInfo, torchVersion } from '../tensor/index.ts';

export function run(args: string[]): number {
  const facts = {
    libtorch: torchVersion(),
    threads: getNumThreads(),
    cudaDevices: cuda.deviceCount(),
    node: process.version,
  };
  if (args.includes('--json')) console.log(JSON.stringify(facts));
  else {
    for (const [k, v] of Object.entries(facts)) console.log(`${k.padEnd(12)} ${v}`);
    console.log(`\n${parallelInfo().trim()}`);
  }
  return 0;
}
