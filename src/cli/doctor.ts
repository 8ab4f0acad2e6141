// `graft doctor`: is this machine ready to train? Node's version, graft's, the libtorch graft finds
// (where, which version, CUDA or not), the native addon (built? against which libtorch? does it
// load?), and once loaded: threads, the BLAS library actually mapped into the process and CUDA
// devices. Works when the addon is missing or broken (that is when it is needed): the tensors are
// imported only after the checks that need no libtorch. Usage text in commands.ts.
import { existsSync, readFileSync } from 'node:fs';
import { parse, runCommand } from './_args.ts';
import { type Libtorch, nativeTools } from './_native.ts';
import { DOCTOR_USAGE } from './commands.ts';
import { version } from './main.ts';

/** Node versions graft supports (package.json engines); others may work but are not tested. */
export const SUPPORTED_NODE = [22, 24];

interface Check {
  name: string;
  ok: boolean;
  value: string;
  /** what to do when not ok */
  fix?: string;
  /** a failed check that only warns (graft still works): an untested Node, a slow BLAS */
  warnOnly?: boolean;
}

/** The BLAS / LAPACK / MKL libraries mapped into this process (Linux: /proc/self/maps). */
export function loadedBlas(maps = '/proc/self/maps'): string[] | undefined {
  if (!existsSync(maps)) return undefined;
  const paths = readFileSync(maps, 'utf8')
    .split('\n')
    .map((l) => l.slice(l.indexOf('/')))
    .filter((p) => p.startsWith('/') && /\/lib(open)?blas|\/libmkl_|\/libcblas|\/libblis/.test(p));
  return [...new Set(paths)];
}

const mib = (b: number) => (b < 2 ** 20 ? `${Math.round(b / 1024)} KiB` : `${Math.round(b / 2 ** 20)} MiB`);

/** The allocator's settings in words: the caching allocator's cap and minimum, the arena's minimum. */
function allocatorDetail(a: Settings['allocator']): string {
  if (a.mode === 'caching') return ` (cap ${mib(a.capBytes)}, from ${mib(a.minBytes)})`;
  if (a.mode === 'arena') return ` (buffers from ${mib(a.minBytes)} in an address range of their own)`;
  return '';
}

function nodeCheck(): Check {
  const major = Number(process.versions.node.split('.')[0]);
  const ok = SUPPORTED_NODE.includes(major) || major > SUPPORTED_NODE.at(-1)!;
  return {
    name: 'node',
    ok,
    value: process.version,
    warnOnly: true,
    fix: `graft supports Node ${SUPPORTED_NODE.join(' and ')} (Node 20 is past its end of life)`,
  };
}

type Settings = ReturnType<typeof import('../tensor/index.ts').runtimeSettings>;

/** Threads (and why that many), OpenMP's wait, malloc and the CPU allocator as the addon loaded them. */
export function runtimeChecks(s: Settings): Check[] {
  const th = s.threads;
  const machine = [
    `${th.available} CPUs available`,
    th.physical !== undefined ? `${th.physical} physical cores` : '',
    th.quota !== undefined ? `cgroup quota ${th.quota} CPUs` : '',
  ].filter(Boolean);
  const why = th.from === 'GRAFT_NUM_THREADS' ? 'GRAFT_NUM_THREADS' : `${th.from}; GRAFT_NUM_THREADS sets it`;
  const omp = s.omp;
  const wait = [
    omp.waitPolicy && `OMP_WAIT_POLICY=${omp.waitPolicy}`,
    omp.spinCount && `GOMP_SPINCOUNT=${omp.spinCount}`,
  ]
    .filter(Boolean)
    .join(' ');
  const a = s.allocator;
  return [
    { name: 'threads', ok: true, value: `${th.current} (${why}; ${machine.join(', ')})` },
    {
      name: 'openmp',
      ok: true,
      value: `${wait || "libgomp's default wait"} (${omp.from === 'graft' ? 'graft; GRAFT_OMP_SPIN sets it' : 'from the environment'})`,
    },
    {
      name: 'memory',
      ok: a.mode === 'malloc' || a.active,
      value: `malloc ${s.malloc.mode}${s.malloc.mode === 'training' ? ' (thresholds raised: buffers stay in the heap)' : ''}, allocator ${a.mode}${allocatorDetail(a)}`,
      fix:
        a.mode === 'arena'
          ? 'graft could not reserve address space for its arena (a `ulimit -v` limit?), so large buffers go to malloc: raise the limit, or set GRAFT_ALLOCATOR=malloc'
          : "the caching allocator did not take over libtorch's CPU allocator: unset GRAFT_ALLOCATOR",
    },
  ];
}

export async function doctor(): Promise<Check[]> {
  const checks: Check[] = [nodeCheck()];
  const tools = await nativeTools();
  checks.push({ name: 'graft', ok: true, value: `${version()} (${tools.root})` });
  let torch: Libtorch | null = null;
  try {
    torch = tools.findLibtorch();
    const cuda = torch?.libs.includes('torch_cuda') ? 'with CUDA libraries' : 'CPU only';
    checks.push(
      torch
        ? {
            name: 'libtorch',
            ok: true,
            value: `${tools.libtorchVersion(torch) ?? 'version unknown'} from ${torch.source}: ${torch.libDir} (${cuda})`,
          }
        : { name: 'libtorch', ok: false, value: 'not found', fix: tools.NO_LIBTORCH.replace(/^graft: /, '') },
    );
  } catch (e) {
    checks.push({ name: 'libtorch', ok: false, value: (e as Error).message, fix: 'fix or unset GRAFT_LIBTORCH' });
  }
  if (!existsSync(tools.addonPath)) {
    checks.push({ name: 'addon', ok: false, value: `${tools.addonPath} is not built`, fix: 'run: npx graft setup' });
    return checks;
  }
  const builtWith = `${tools.buildDir}/libtorch.json`;
  const against = existsSync(builtWith) ? (JSON.parse(readFileSync(builtWith, 'utf8')) as Libtorch) : undefined;
  const stale = against && torch && against.libDir !== torch.libDir;
  try {
    const t = await import('../tensor/index.ts');
    checks.push({
      name: 'addon',
      ok: !stale,
      value: `${tools.addonPath} loads (built against ${against ? `${against.source}: ${against.libDir}` : 'an unrecorded libtorch'})`,
      fix: 'graft now finds another libtorch than the addon was built with: run npx graft setup',
    });
    checks.push({ name: 'torch', ok: true, value: t.torchVersion() });
    checks.push(...runtimeChecks(t.runtimeSettings()));
    const blas = loadedBlas();
    const reference = blas?.some((p) => /\/blas\/libblas\.so/.test(p));
    checks.push({
      name: 'blas',
      ok: !reference,
      warnOnly: true,
      value: blas === undefined ? 'unknown on this platform' : blas.length ? blas.join(', ') : 'none loaded yet',
      fix: 'the reference BLAS makes matmuls ~14x slower: sudo apt-get install libopenblas0-pthread',
    });
    const devices = t.cuda.deviceCount();
    checks.push({ name: 'cuda', ok: true, value: devices ? `${devices} device(s)` : 'no CUDA device (CPU)' });
  } catch (e) {
    checks.push({
      name: 'addon',
      ok: false,
      value: (e as Error).message,
      fix: 'run: npx graft setup (rebuilds it against the libtorch found)',
    });
  }
  return checks;
}

export function run(args: string[]): Promise<number> {
  return runCommand('doctor', DOCTOR_USAGE, async () => {
    const { values } = parse(args, { json: { type: 'boolean' } });
    const checks = await doctor();
    const ok = checks.every((c) => c.ok || c.warnOnly);
    if (values.json) console.log(JSON.stringify({ ok, checks }, null, 1));
    else
      for (const c of checks) {
        console.log(`${c.ok ? 'ok  ' : c.warnOnly ? 'warn' : 'FAIL'}  ${c.name.padEnd(8)}  ${c.value}`);
        if (!c.ok && c.fix) console.log(`${' '.repeat(16)}${c.fix.replaceAll('\n', `\n${' '.repeat(16)}`)}`);
      }
    return ok ? 0 : 1;
  });
}
