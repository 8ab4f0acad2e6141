// What else the machine is doing while a bench samples: /proc/stat's busy time of all CPUs minus the
// time of the processes being measured (/proc/<pid>/stat, all threads), as cores kept busy by
// others; plus the machine's description for a bench header. Linux only: elsewhere `others` is NaN.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

const read = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

/** Busy and total CPU ticks of the whole machine (all cores). */
function machineTicks(): { busy: number; total: number } | undefined {
  const line = read('/proc/stat')?.split('\n')[0];
  if (!line?.startsWith('cpu ')) return undefined;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** utime + stime (and reaped children's) of a process, in ticks; 0 when it is gone. */
function processTicks(pid: number): number {
  const s = read(`/proc/${pid}/stat`);
  if (!s) return 0;
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // fields after the name: state=0 ... utime=11 stime=12 cutime=13 cstime=14
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
}

export interface LoadSample {
  /** cores kept busy by processes other than the measured ones, on average over the sample */
  others: number;
  /** the 1-minute load average at the end */
  loadavg1: number;
}

/** Starts a load measurement; `end()` gives the other processes' load during it. */
export function measureLoad(pids: () => number[]): { end(): LoadSample } {
  const m0 = machineTicks();
  const p0 = [...pids(), process.pid].reduce((a, p) => a + processTicks(p), 0);
  return {
    end() {
      const m1 = machineTicks();
      const p1 = [...pids(), process.pid].reduce((a, p) => a + processTicks(p), 0);
      if (!m0 || !m1 || m1.total === m0.total) return { others: Number.NaN, loadavg1: loadavg()[0]! };
      const cores = cpus().length;
      const elapsedPerCore = (m1.total - m0.total) / cores;
      const others = Math.max(0, (m1.busy - m0.busy - (p1 - p0)) / elapsedPerCore);
      return { others, loadavg1: loadavg()[0]! };
    },
  };
}

/** One line naming the machine: CPU model, cores, memory, kernel. */
export function machineLine(): string {
  const c = cpus();
  const kernel = read('/proc/sys/kernel/osrelease')?.trim() ?? process.platform;
  return `${c[0]?.model.trim() ?? 'unknown CPU'}, ${c.length} logical CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${kernel}`;
}

/** Runs CMD ARGS as a child, measuring the load of other processes meanwhile; stdout lines (stderr too on failure), exit code and seconds. */
export function runChildProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  return new Promise<{ out: string[]; code: number; load: LoadSample; seconds: number }>((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const m = measureLoad(() => (child.pid ? [child.pid] : []));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    child.stderr.on('data', (d) => {
      err = (err + String(d)).slice(-2000);
    });
    child.on('exit', (code) =>
      resolve({
        out: (out + (code ? err : '')).trim().split('\n'),
        code: code ?? 1,
        load: m.end(),
        seconds: (performance.now() - t0) / 1000,
      }),
    );
  });
}
