#!/usr/bin/env node
// The `graft` command: runs the TypeScript CLI through tsx's loader. Starting that loader is most
// of what `graft --help` costs today (about 0.3 s of 0.4 s; bench/cli_startup.ts): libtorch loads
// only when a command runs, and compiled JavaScript will take tsx out of the start-up too.
import { register } from 'tsx/esm/api';

// A reader that goes away (`graft train | head -1`) breaks the pipe: from then on that stream's
// output is dropped and the command carries on (a run still finishes and writes its run folder)
// instead of dying on an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr])
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e;
    stream.write = () => true;
  });

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
