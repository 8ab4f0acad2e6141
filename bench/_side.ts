// One side of a bench as a long-lived child process with its own environment: it prints a hello
// JSON line, then answers each "MODE N" line on stdin with one JSON line. bench/all.ts runs a graft
// side (bench/_graft_worker.ts) and a PyTorch side (bench/*_torch.py) this way, so they take turns
// without paying start-up per sample and without sharing one process's settings.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface Side {
  hello: Record<string, any>;
  pid: number;
  ask(mode: string, n: number): Promise<Record<string, any>>;
  close(): void;
}

export async function startSide(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): Promise<Side> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env, cwd });
  let err = '';
  child.stderr.on('data', (d) => {
    err = (err + String(d)).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<Record<string, any>> => {
    for (;;) {
      const r = await lines.next();
      if (r.done) throw new Error(`${cmd} ${args.join(' ')} exited: ${err.trim().split('\n').slice(-3).join(' | ')}`);
      // a side may print other lines (library warnings); answers are JSON objects
      if (r.value.startsWith('{')) return JSON.parse(r.value);
    }
  };
  const hello = await next();
  return {
    hello,
    pid: child.pid ?? 0,
    async ask(mode, n) {
      child.stdin.write(`${mode} ${n}\n`);
      const a = await next();
      if (a.error) throw new Error(`${mode}: ${a.error}`);
      return a;
    },
    close() {
      child.stdin.end();
      child.kill();
    },
  };
}

// What graft sets up for itself at load (OpenMP waiting, malloc, its own knobs): the PyTorch side
// runs as a user runs PyTorch, so none of it reaches that side's environment.
const GRAFT_ONLY = /^(OMP_|GOMP_|KMP_|MALLOC_|GLIBC_TUNABLES$|LD_PRELOAD$|GRAFT_)/;

/** The environment a PyTorch side gets: this process's, less graft's settings, plus GRAFT_BENCH_TORCH_ENV (JSON). */
export function torchSideEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(base)) if (!GRAFT_ONLY.test(k)) env[k] = v;
  const extra = base.GRAFT_BENCH_TORCH_ENV;
  if (extra) Object.assign(env, JSON.parse(extra) as Record<string, string>);
  return env;
}
