// Finds libtorch and builds the addon. Rebuilds only when sources, flags or libtorch change.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const buildDir = join(root, 'build');
export const addonPath = join(buildDir, 'graft.node');

// shared libraries are .so on Linux, .dylib on macOS (pip's torch wheels for arm64 Macs)
const libExt = process.platform === 'darwin' ? 'dylib' : 'so';

function layout(dir, source, abi) {
  const inc = join(dir, 'include');
  const lib = join(dir, 'lib');
  if (!existsSync(join(inc, 'ATen', 'ATen.h'))) return null;
  const has = (name) => existsSync(join(lib, `lib${name}.${libExt}`));
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
    if (!found) throw new Error(`GRAFT_LIBTORCH=${env} has no include/ATen/ATen.h and lib/libtorch_cpu.${libExt}`);
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

/**
 * libpng and libjpeg(-turbo) for the image fast path (native/image*.cc), when their headers are
 * installed (Debian: libpng-dev libjpeg62-turbo-dev); null otherwise, and graft decodes with sharp.
 * GRAFT_NO_IMAGE=1 builds without them.
 */
export function findImageLibs() {
  if (process.env.GRAFT_NO_IMAGE === '1') return null;
  for (const prefix of ['/usr', '/usr/local', '/opt/homebrew']) {
    const inc = join(prefix, 'include');
    const png = [inc, join(inc, 'libpng16')].find((d) => existsSync(join(d, 'png.h')));
    if (!png || !existsSync(join(inc, 'jpeglib.h'))) continue;
    // the compiler searches /usr already: naming it again can break #include_next in libstdc++
    const includes = [...new Set([inc, png])].filter((d) => d !== '/usr/include');
    return { includes, libDirs: prefix === '/usr' ? [] : [join(prefix, 'lib')] };
  }
  return null;
}

function compileArgs(torch) {
  const image = findImageLibs();
  return [
    ...(image ? ['-DGRAFT_HAVE_IMAGE', ...image.includes.map((i) => `-I${i}`)] : []),
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

const headers = () => readdirSync(join(root, 'native')).filter((f) => f.endsWith('.h'));

/** sha256 of `what` (JSON) and the named native/ files, names and contents. */
function hashOf(what, files) {
  const h = createHash('sha256');
  h.update(JSON.stringify(what));
  for (const f of [...files].sort()) {
    h.update(f);
    h.update(readFileSync(join(root, 'native', f)));
  }
  return h.digest('hex');
}

function stampOf(torch) {
  return hashOf({ torch, flags: compileArgs(torch), node: process.versions.modules }, [...sources(), ...headers()]);
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
  const cxx = process.env.CXX || (process.platform === 'darwin' ? 'clang++' : 'g++');
  const flags = compileArgs(torch);
  const queue = sources();
  const jobs = Math.max(1, Number(process.env.GRAFT_BUILD_JOBS) || 2);
  const objects = queue.map((s) => join(buildDir, 'obj', s.replace(/\.cc$/, '.o')));
  // an object is rebuilt when its source, any native/*.h, or the flags changed: the key beside it
  // says what it was built from (headers are few and shared, so one changed header rebuilds all)
  const common = hashOf({ torch, flags, cxx, node: process.versions.modules }, headers());
  const keyOf = (s) => hashOf({ common }, [s]);
  const work = queue.filter((s, i) => {
    const keyFile = `${objects[i]}.key`;
    return !(existsSync(objects[i]) && existsSync(keyFile) && readFileSync(keyFile, 'utf8') === keyOf(s));
  });
  if (work.length < queue.length) log(`graft: ${queue.length - work.length} of ${queue.length} objects are up to date`);
  await Promise.all(
    Array.from({ length: jobs }, async () => {
      while (work.length) {
        const s = work.shift();
        const obj = objects[queue.indexOf(s)];
        rmSync(`${obj}.key`, { force: true });
        await run(cxx, [...flags, '-c', join(root, 'native', s), '-o', obj]);
        writeFileSync(`${obj}.key`, keyOf(s));
      }
    }),
  );
  const tmp = `${addonPath}.tmp`;
  const image = findImageLibs();
  await run(cxx, [
    '-shared',
    '-o',
    tmp,
    ...objects,
    `-L${torch.libDir}`,
    `-Wl,-rpath,${torch.libDir}`,
    // macOS links an addon against no node binary: Node-API's symbols resolve when node loads it
    ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []),
    ...torch.libs.map((l) => `-l${l}`),
    ...(image ? [...image.libDirs.map((d) => `-L${d}`), '-lpng', '-ljpeg'] : []),
  ]);
  renameSync(tmp, addonPath);
  writeFileSync(stampFile, stamp);
  writeFileSync(join(buildDir, 'libtorch.json'), JSON.stringify(torch, null, 2));
  return true;
}

/** libtorch's version from its headers (torch/version.h), without loading it; undefined if absent. */
export function libtorchVersion(torch) {
  for (const inc of torch.includes) {
    const h = join(inc, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h');
    const alt = join(inc, 'torch', 'version.h');
    const file = [h, alt].find((f) => existsSync(f));
    if (!file) continue;
    const text = readFileSync(file, 'utf8');
    const part = (p) => text.match(new RegExp(`#define TORCH_VERSION_${p}\\s+(\\d+)`))?.[1];
    const [major, minor, patch] = ['MAJOR', 'MINOR', 'PATCH'].map(part);
    if (major && minor) return `${major}.${minor}.${patch ?? 0}`;
  }
  return undefined;
}

/** What to do when no libtorch is found, as printed by `graft setup` and the install step. */
export const NO_LIBTORCH = `graft: no libtorch found. graft looks, in this order, at:
  1. GRAFT_LIBTORCH=/path/to/libtorch   an unpacked libtorch (https://pytorch.org, "LibTorch")
  2. python3 -c 'import torch'          the libtorch inside a pip/conda PyTorch (pip install torch)
  3. /usr (Debian/Ubuntu)               sudo apt-get install libtorch-dev libopenblas0-pthread
then build the addon: npx graft setup`;

/**
 * The addon for this package, built when missing or stale: the install step and `graft setup`.
 * GRAFT_ADDON_FROM=DIR copies an addon already built for the same libtorch (a build/ folder holding
 * graft.node, graft.stamp and libtorch.json) instead of compiling. Returns what it did.
 */
export async function ensureAddon({ log = console.log } = {}) {
  const from = process.env.GRAFT_ADDON_FROM;
  if (from) {
    mkdirSync(buildDir, { recursive: true });
    for (const f of ['graft.node', 'graft.stamp', 'libtorch.json']) copyFileSync(join(from, f), join(buildDir, f));
    log(`graft: copied the native addon from ${from}`);
    return { action: 'copied', torch: JSON.parse(readFileSync(join(buildDir, 'libtorch.json'), 'utf8')) };
  }
  const torch = findLibtorch();
  if (!torch) return { action: 'no-libtorch' };
  const built = await buildAddon(torch, { log });
  return { action: built ? 'built' : 'up-to-date', torch };
}
