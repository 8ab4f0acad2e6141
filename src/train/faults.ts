// TEST-ONLY fault injection for the reliability drills: GRAFT_TEST_KILL_AT=POINT[:N] makes the
// process kill itself with SIGKILL the Nth time (default 1st) it reaches POINT, leaving the run
// folder exactly as a power cut there would. Points:
//   checkpoint-write  a checkpoint's temp file is half written (before its rename)
//   after-last        last.pth is written, best.pth / the keep-copy not yet
//   keep-copy         an epoch-NNNN.pth temp copy is half written
//   recipe-write      recipe.yaml's temp file is half written
// GRAFT_TEST_SLOW_WRITE_MS=N holds every checkpoint write N ms between its temp file and the
// rename (signals sent meanwhile wait for the write: the double Ctrl-C drill).
// Unset (always, outside the test suite) every call is a no-op.
import { existsSync, statSync, truncateSync } from 'node:fs';

export const FAULT_POINTS = ['checkpoint-write', 'after-last', 'keep-copy', 'recipe-write'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const hits = new Map<string, number>();

function armed(point: FaultPoint): boolean {
  const spec = process.env.GRAFT_TEST_KILL_AT;
  if (!spec) return false;
  const [name, n = '1'] = spec.split(':');
  if (name !== point) return false;
  const count = (hits.get(point) ?? 0) + 1;
  hits.set(point, count);
  return count === Number(n);
}

/** Dies here (SIGKILL) when GRAFT_TEST_KILL_AT names this point and hit count. */
export function faultPoint(point: FaultPoint): void {
  if (armed(point)) process.kill(process.pid, 'SIGKILL');
}

/**
 * For the "half written" points: when armed, cuts `tmp` (a temp file already written whole) to half
 * its size and dies, as a kill in the middle of writing it would leave it.
 */
export function faultHalfWritten(point: FaultPoint, tmp: string): void {
  if (!armed(point)) return;
  if (existsSync(tmp)) truncateSync(tmp, Math.floor(statSync(tmp).size / 2));
  process.kill(process.pid, 'SIGKILL');
}

/** Whether any fault is armed for POINT (so callers take the slower path that can be cut). */
export const faultArmed = (point: FaultPoint): boolean => process.env.GRAFT_TEST_KILL_AT?.split(':')[0] === point;

/** TEST-ONLY: how long a checkpoint write pauses before its rename (GRAFT_TEST_SLOW_WRITE_MS). */
export const slowWriteMs = (): number => Number(process.env.GRAFT_TEST_SLOW_WRITE_MS ?? 0) || 0;

/** Blocks the thread for `ms` (a write in progress: no JS, no signal handler runs meanwhile). */
export function pauseSync(ms: number): void {
  if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
