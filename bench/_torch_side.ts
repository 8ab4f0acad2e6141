// The PyTorch side of a benchmark as a long-lived /usr/bin/python3 process: it prints a hello line
// ({torch, threads}) and then answers each "MODE N" line on stdin with one JSON line, so the two
// sides can take turns without paying Python's start-up per measurement.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { torchSideEnv } from './_side.ts';

export interface TorchSide {
  /** the JSON line answering "MODE N" */
  ask(mode: string, n: number): Promise<Record<string, any>>;
  close(): void;
  /** "PyTorch <version> (<python>), <threads> threads", for the bench's header */
  note: string;
}

/** Starts bench/<script> with `args`; a string says why the PyTorch column is skipped. */
export async function startTorchSide(script: string, args: string[], packages: string): Promise<TorchSide | string> {
  const python = process.env.GRAFT_BENCH_PYTHON ?? '/usr/bin/python3';
  if (!existsSync(python)) return `PyTorch column skipped: ${python} not found (apt-get install ${packages})`;
  const path = join(dirname(fileURLToPath(import.meta.url)), script);
  // PyTorch's own defaults: graft's OpenMP and malloc settings stay out of its environment
  const child = spawn(python, [path, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: torchSideEnv() });
  let err = '';
  child.stderr.on('data', (d) => {
    err += String(d);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, any>> => {
    const r = await lines.next();
    if (r.done) throw new Error(err.trim().split('\n').pop() || 'python exited');
    return JSON.parse(r.value);
  };
  try {
    const hello = await next();
    return {
      note: `PyTorch ${hello.torch} (${python}), ${hello.threads} threads`,
      async ask(mode, n) {
        child.stdin.write(`${mode} ${n}\n`);
        return next();
      },
      close: () => child.stdin.end(),
    };
  } catch (e) {
    return `PyTorch column skipped: ${(e as Error).message}`;
  }
}
