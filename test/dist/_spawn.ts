// Runs a worker script as `world` real processes on loopback (c10d over TCP, Gloo) and collects
// what each printed as `RESULT <json>`.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RankResult {
  rank: number;
  code: number | null;
  results: any[];
  stderr: string;
  ms: number;
}

/** Starts `world` copies of `script` with the torchrun variables; resolves when all have exited. */
export async function runRanks(
  script: string,
  args: string[],
  o: { world?: number; env?: Record<string, string>; killAfterMs?: number } = {},
): Promise<RankResult[]> {
  const world = o.world ?? 2;
  const port = await freePort();
  // a second port for workers that start a second group once all ranks are up
  const port2 = await freePort();
  const started = Date.now();
  return Promise.all(
    Array.from(
      { length: world },
      (_, rank) =>
        new Promise<RankResult>((resolve) => {
          const child = spawn(
            process.execPath,
            ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...args],
            {
              cwd: ROOT,
              env: {
                ...process.env,
                GRAFT_NUM_THREADS: '1',
                RANK: String(rank),
                WORLD_SIZE: String(world),
                LOCAL_RANK: String(rank),
                LOCAL_WORLD_SIZE: String(world),
                MASTER_ADDR: '127.0.0.1',
                MASTER_PORT: String(port),
                TEST_PORT2: String(port2),
                ...o.env,
              },
              stdio: ['ignore', 'pipe', 'pipe'],
            },
          );
          let out = '';
          let err = '';
          child.stdout.on('data', (d) => (out += d));
          child.stderr.on('data', (d) => (err += d));
          const timer = setTimeout(() => child.kill('SIGKILL'), o.killAfterMs ?? 60_000);
          child.on('exit', (code) => {
            clearTimeout(timer);
            const results = out
              .split('\n')
              .filter((l) => l.startsWith('RESULT '))
              .map((l) => JSON.parse(l.slice(7)));
            resolve({ rank, code, results, stderr: err, ms: Date.now() - started });
          });
        }),
    ),
  );
}

/** In a worker: print one result for the parent. */
export const report = (v: unknown): void => {
  process.stdout.write(`RESULT ${JSON.stringify(v)}\n`);
};
