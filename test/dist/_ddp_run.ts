// Starts the data-parallel test workers: N copies of _ddp_worker.ts with the torchrun variables
// of a free loopback port, each writing its result to a JSON file.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/dist/index.ts';

const WORKER = new URL('./_ddp_worker.ts', import.meta.url).pathname;

export interface WorkerResult {
  rank: number;
  code: number | null;
  /** ms from the start of all workers to this one's exit */
  ms: number;
  stderr: string;
  json:
    | { state?: Record<string, number[]>; reduced?: string[]; error?: { code: string; message: string }; ms?: number }
    | undefined;
}

export async function runWorkers(
  mode: string,
  o: { world?: number; env?: Record<string, string> } = {},
): Promise<WorkerResult[]> {
  const world = o.world ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'graft-ddp-'));
  const port = await freePort();
  const port2 = await freePort();
  const t0 = Date.now();
  try {
    return await Promise.all(
      Array.from({ length: world }, (_, rank) => {
        const file = join(dir, `${rank}.json`);
        const p = spawn(process.execPath, ['--import', 'tsx', WORKER, mode, file], {
          env: {
            ...process.env,
            RANK: String(rank),
            WORLD_SIZE: String(world),
            MASTER_ADDR: '127.0.0.1',
            MASTER_PORT: String(port),
            TEST_PORT2: String(port2),
            GRAFT_NUM_THREADS: '1',
            ...o.env,
          },
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        p.stderr!.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        const reap = () => p.kill('SIGKILL');
        process.once('exit', reap);
        return new Promise<WorkerResult>((resolve) =>
          p.on('exit', (code) => {
            process.off('exit', reap);
            let json: WorkerResult['json'];
            try {
              json = JSON.parse(readFileSync(file, 'utf8'));
            } catch {
              json = undefined;
            }
            resolve({ rank, code, ms: Date.now() - t0, stderr, json });
          }),
        );
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
