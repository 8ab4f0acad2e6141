#!/usr/bin/env node
// The `graft` command. Installed from npm it runs the compiled JavaScript in dist/; in a checkout
// of the repository (src/ present, no build needed) it runs the TypeScript sources through tsx's
// loader. GRAFT_USE_DIST=1 runs dist/ in a checkout too (after `npm run build`).
// libtorch loads only when a command needs tensors (bench/cli_startup.ts times it).
import { existsSync } from 'node:fs';

// A reader that goes away (`graft train | head -1`) breaks the pipe: from then on that stream's
// output is dropped and the command carries on (a run still finishes and writes its run folder)
// instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e;
    stream.write = () => true;
  });

const fromSource = existsSync(new URL('../src/cli/main.ts', import.meta.url)) && process.env.GRAFT_USE_DIST !== '1';
if (!fromSource && !existsSync(new URL('../dist/cli/main.js', import.meta.url))) {
  console.error('graft: dist/ is missing: run `npm run build` in the graft folder (npm pack and publish build it)');
  process.exit(1);
}
if (fromSource) (await import('tsx/esm/api')).register();
const { main } = await import(fromSource ? '../src/cli/main.ts' : '../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
