// Finds libtorch and builds the addon. Rebuilds only when sources, flags or libtorch change.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const buildDir = join(root, 'build');
export const addonPath = join(buildDir, 'graft.node');

function layout(dir, source, abi) {
  const inc = join(dir, 'include');
  const lib = join(dir, 'lib');
  if (!existsSync(join(inc, 'ATen', 'ATen.h'))) return null;
  const has = (name) => existsSync(join(lib, `lib${name}.so`));
  if (!has('torch_cpu')) return null;
  const libs = ['c10', 'torch_cpu', 'torch'].filter(has);
  for (const cuda of ['c10_cuda', 'torch_cuda']) if (has(cuda)) libs.push(cuda);
  return { source, dir, includes: [inc, join(inc, 'torch', 'csrc', 'api', 'include')], libDir: lib, libs, abi };
}

function pythonTorch(python) {
  try {
    const out = execFileSync(
      python,
      ['-c', 'import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI))'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000 },
    );
    const [dir, abi] = out.trim().split('\n');
    return layout(dir, `python (${python})`, abi === '1' ? 1 : 0);
  } catch {
    return null;
  }
}

function debianTorch() {
  const multiarch = readdirSync('/usr/lib').find((d) => existsSync(join('/usr/lib', d, 'libtorch_cpu.so')));
  if (!existsSync('/usr/include/ATen/ATen.h') || !multiarch) return null;
  const lib = join('/usr/lib', multiarch);
  const has = (name) => existsSync(join(lib, `lib${name}.so`));
  const libs = ['c10', 'torch_cpu', 'torch'].filter(has);
  return {
    source: 'debian',
    dir: '/usr',
    includes: ['/usr/include', '/usr/include/torch/csrc/api/include'],
    libDir: lib,
    libs,
    abi: 1,
  };
}

// Order: GRAFT_LIBTORCH (or LIBTORCH), an importable Python PyTorch, Debian's /usr.
export function findLibtorch() {
  const env = process.env.GRAFT_LIBTORCH || process.env.LIBTORCH;
  if (env) {
    const found = layout(resolve(env), `env (${env})`, Number(process.env.GRAFT_CXX11_ABI ?? 1));
    if (!found) throw new Error(`GRAFT_LIBTORCH=${env} has no include/ATen/ATen.h and lib/libtorch_cpu.so`);
    return found;
  }
  if (process.env.GRAFT_SKIP_PYTHON_TORCH !== '1') {
    const py = pythonTorch('python3');
    if (py) return py;
  }
  return debianTorch();
}

function nodeInclude() {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node'];
  const found = candidates.find((d) => existsSync(join(d, 'node_api.h')));
  if (!found) throw new Error(`node_api.h not found in ${candidates.join(' or ')}: install Node's headers`);
  return found;
}

const sources = () =>
  readdirSync(join(root, 'native'))
    .filter((f) => f.endsWith('.cc'))
    .sort();

function compileArgs(torch) {
  return [
    '-std=c++17',
    '-O2',
    '-fPIC',
    '-fvisibility=hidden',
    '-DNODE_GYP_MODULE_NAME=graft',
    `-D_GLIBCXX_USE_CXX11_ABI=${torch.abi}`,
    '-Wno-deprecated-declarations',
    '-Wno-unused-parameter',
    `-I${nodeInclude()}`,
    ...torch.includes.map((i) => `-I${i}`),
  ];
}

function stampOf(torch) {
  const h = createHash('sha256');
  h.update(JSON.stringify({ torch, flags: compileArgs(torch), node: process.versions.modules }));
  for (const f of [...sources(), ...readdirSync(join(root, 'native')).filter((f) => f.endsWith('.h'))].sort()) {
    h.update(f);
    h.update(readFileSync(join(root, 'native', f)));
  }
  return h.digest('hex');
}

function run(cmd, args) {
  return new Promise((ok, fail) => {
    const p = spawn(cmd, args, { stdio: 'inherit' });
    p.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${cmd} exited with ${code}`))));
  });
}

export async function buildAddon(torch, { log = console.log } = {}) {
  const stamp = stampOf(torch);
  const stampFile = join(buildDir, 'graft.stamp');
  if (existsSync(addonPath) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return false;
  mkdirSync(join(buildDir, 'obj'), { recursive: true });
  log(`graft: building the native addon against libtorch from ${torch.source} (${torch.dir})`);
  const cxx = process.env.CXX || 'g++';
  const flags = compileArgs(torch);
  const queue = sources();
  const jobs = Math.max(1, Number(process.env.GRAFT_BUILD_JOBS) || 2);
  const objects = queue.map((s) => join(buildDir, 'obj', s.replace(/\.cc$/, '.o')));
  const work = [...queue];
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      while (work.length) {
        const s = work.shift();
        await run(cxx, [
          ...flags,
          '-c',
          join(root, 'native', s),
          '-o',
          join(buildDir, 'obj', s.replace(/\.cc$/, '.o')),
        ]);
      }
    }),
  );
  const tmp = `${addonPath}.tmp`;
  await run(cxx, [
    '-shared',
    '-o',
    tmp,
    ...objects,
    `-L${torch.libDir}`,
    `-Wl,-rpath,${torch.libDir}`,
    ...torch.libs.map((l) => `-l${l}`),
  ]);
  renameSync(tmp, addonPath);
  writeFileSync(stampFile, stamp);
  writeFileSync(join(buildDir, 'libtorch.json'), JSON.stringify(torch, null, 2));
  return true;
}
