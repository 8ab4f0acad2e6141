// `graft info`: what graft runs on (libtorch version and build, threads, CUDA devices).
import { cuda, getNumThreads, parallelInfo, torchVersion } from '../tensor/index.ts';
import type { Command } from './main.ts';

export const info: Command = {
  name: 'info',
  summary: 'libtorch version, threads and CUDA devices graft runs on',
  usage: 'usage: graft info [--json]\n\nPrints the libtorch graft is built against, its thread count and CUDA devices.',
  run(args) {
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
  },
};
