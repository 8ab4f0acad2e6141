// What the machine gives this process: CPUs it may run on, physical cores among them, a container's
// CPU quota and memory limit (cgroup v2 or v1). Read once at load to pick the thread count and the
// caching allocator's default cap. Every reader takes a file-system root so tests can fake /proc and /sys.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { join } from 'node:path';

const read = (root: string, path: string): string | undefined => {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    return undefined;
  }
};

/** The cgroup path of this process per controller ('' is cgroup v2's unified hierarchy). */
function cgroupPaths(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (read(root, '/proc/self/cgroup') ?? '').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    for (const c of controllers!.split(',')) out.set(c, path);
  }
  return out;
}

/** CPUs the cgroup's quota allows (quota / period, rounded up), or undefined without a quota. */
export function cgroupCpuLimit(root = '/'): number | undefined {
  const paths = cgroupPaths(root);
  const v2 = paths.get('');
  if (v2 !== undefined) {
    const max = read(root, join('/sys/fs/cgroup', v2, 'cpu.max'))
      ?.trim()
      .split(/\s+/);
    if (max && max[0] !== 'max' && Number(max[0]) > 0 && Number(max[1]) > 0)
      return Math.max(1, Math.ceil(Number(max[0]) / Number(max[1])));
  }
  const v1 = paths.get('cpu');
  if (v1 !== undefined) {
    for (const dir of [join('/sys/fs/cgroup/cpu', v1), join('/sys/fs/cgroup/cpu,cpuacct', v1), '/sys/fs/cgroup/cpu']) {
      const quota = Number(read(root, join(dir, 'cpu.cfs_quota_us')));
      const period = Number(read(root, join(dir, 'cpu.cfs_period_us')));
      if (quota > 0 && period > 0) return Math.max(1, Math.ceil(quota / period));
    }
  }
  return undefined;
}

/** The cgroup's memory limit in bytes, or undefined without one. */
export function cgroupMemoryLimit(root = '/'): number | undefined {
  const paths = cgroupPaths(root);
  const v2 = paths.get('');
  const candidates: string[] = [];
  if (v2 !== undefined) candidates.push(join('/sys/fs/cgroup', v2, 'memory.max'));
  const v1 = paths.get('memory');
  if (v1 !== undefined) candidates.push(join('/sys/fs/cgroup/memory', v1, 'memory.limit_in_bytes'));
  for (const f of candidates) {
    const n = Number(read(root, f)?.trim());
    // v1 reports "no limit" as a huge page-rounded number
    if (Number.isFinite(n) && n > 0 && n < 2 ** 60) return n;
  }
  return undefined;
}

/** CPU numbers in a Linux list such as "0-3,8,10-11". */
export function cpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number);
    for (let i = a!; i <= (b ?? a!); i++) out.push(i);
  }
  return out;
}

/**
 * Physical cores among the CPUs this process may use (hyper-threads of one core count once), or
 * undefined where the topology is not readable (not Linux).
 */
export function physicalCores(root = '/', allowed?: number[]): number | undefined {
  const dir = join(root, '/sys/devices/system/cpu');
  if (!existsSync(dir)) return undefined;
  const status = read(root, '/proc/self/status')?.match(/^Cpus_allowed_list:\s*(.+)$/m)?.[1];
  const cpus =
    allowed ??
    (status
      ? cpuList(status)
      : readdirSync(dir)
          .filter((d) => /^cpu\d+$/.test(d))
          .map((d) => Number(d.slice(3))));
  const cores = new Set<string>();
  for (const c of cpus) {
    const siblings = read(root, `/sys/devices/system/cpu/cpu${c}/topology/thread_siblings_list`);
    const pkg = read(root, `/sys/devices/system/cpu/cpu${c}/topology/physical_package_id`)?.trim() ?? '0';
    // a core is named by its package and its first hyper-thread
    cores.add(`${pkg}:${siblings ? cpuList(siblings)[0] : c}`);
  }
  return cores.size || undefined;
}

export interface ThreadChoice {
  threads: number;
  /** where the number came from */
  from: 'GRAFT_NUM_THREADS' | 'physical cores' | 'available CPUs' | 'cgroup CPU quota';
  available: number;
  physical?: number;
  quota?: number;
}

/**
 * Intra-op threads: GRAFT_NUM_THREADS when set, else the fewest of the CPUs this process may use
 * (affinity), their physical cores (a second hyper-thread slows convolutions and matmuls down, as
 * PyTorch's own default also counts cores) and the container's CPU quota (more threads than the
 * quota allows get throttled mid-step).
 */
export function chooseThreads(env: Record<string, string | undefined>, root = '/'): ThreadChoice {
  const available = availableParallelism();
  const physical = physicalCores(root);
  const quota = cgroupCpuLimit(root);
  const fixed = Number(env.GRAFT_NUM_THREADS);
  if (Number.isInteger(fixed) && fixed >= 1)
    return { threads: fixed, from: 'GRAFT_NUM_THREADS', available, physical, quota };
  let best: ThreadChoice = { threads: available, from: 'available CPUs', available, physical, quota };
  if (physical !== undefined && physical < best.threads) best = { ...best, threads: physical, from: 'physical cores' };
  if (quota !== undefined && quota < best.threads) best = { ...best, threads: quota, from: 'cgroup CPU quota' };
  return best;
}

/** Memory this process may use: the cgroup limit where there is one, else the machine's. */
export const usableMemory = (root = '/'): number => Math.min(cgroupMemoryLimit(root) ?? Infinity, totalmem());
