// graft's side of bench/all.ts as a long-lived process (protocol: bench/_side.ts). Modes:
//   full | frozen | features N   ResNet-18 Trainer steps -> {img_s}
//   op:<case> N                  N calls of a small op -> {us} per call (cases: bench/_ops_cases.ts)
//   rss:<tidy|notidy|trainer> N  N small-model training steps -> {rss0, rss1} bytes
// Usage: node --import tsx bench/_graft_worker.ts THREADS
import { mallocInfo, runtimeSettings, setNumThreads, torchVersion } from '../src/tensor/index.ts';
import { opCase } from './_ops_cases.ts';
import { graftSide, type Mode } from './_resnet_graft.ts';
import { rssScenario } from './_rss_graft.ts';

const threads = Number(process.argv[2] ?? 2);
setNumThreads(threads);

const runners = new Map<string, (n: number) => Promise<Record<string, unknown>>>();
function runner(mode: string): (n: number) => Promise<Record<string, unknown>> {
  let r = runners.get(mode);
  if (r) return r;
  if (mode === 'full' || mode === 'frozen' || mode === 'features') {
    const side = graftSide(mode as Mode);
    r = async (n) => ({ img_s: await side(n) });
  } else if (mode.startsWith('op:')) {
    const run = opCase(mode.slice(3));
    r = async (n) => ({ ...(await run(n)) });
  } else if (mode.startsWith('rss:')) {
    const run = rssScenario(mode.slice(4));
    r = (n) => run(n);
  } else throw new Error(`unknown mode ${mode}`);
  runners.set(mode, r);
  return r;
}

const settings = (() => {
  try {
    return runtimeSettings();
  } catch {
    return undefined;
  }
})();
const m = mallocInfo();
console.log(
  JSON.stringify({
    ready: true,
    torch: torchVersion(),
    threads,
    omp: { OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? null, GOMP_SPINCOUNT: process.env.GOMP_SPINCOUNT ?? null },
    malloc: { mmapThreshold: m.mmapThreshold, trimThreshold: m.trimThreshold, mmapMax: m.mmapMax },
    settings,
  }),
);

let queue = Promise.resolve();
process.stdin.setEncoding('utf8');
let buf = '';
process.stdin.on('data', (d) => {
  buf += d;
  for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (!line) continue;
    const [mode, n] = line.split(/\s+/);
    queue = queue.then(async () => {
      try {
        console.log(JSON.stringify(await runner(mode!)(Number(n))));
      } catch (e) {
        console.log(JSON.stringify({ error: (e as Error).message }));
      }
    });
  }
});
