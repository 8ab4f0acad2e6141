// The published package as a user gets it: `npm pack` (which builds dist/ through prepack), the
// tarball installed into a fresh project with `npm install --offline` (the tarball and npm's local
// cache, no registry), then a plain-node JavaScript consumer, a TypeScript consumer type-checked
// with `tsc --init`'s defaults, a CommonJS require() and the `graft` command, all from that install.
// About a minute; runs when GRAFT_PACKAGE_TEST=1 or GRAFT_SLOW=1 (`npm run test:package`).
// The install step copies the addon this checkout built (GRAFT_ADDON_FROM) instead of compiling it
// again; GRAFT_PACKAGE_TEST_BUILD=1 compiles it inside the temp project, as a user's install does.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HERE = join(ROOT, 'test', 'package', 'consumer');
const run = process.env.GRAFT_PACKAGE_TEST === '1' || process.env.GRAFT_SLOW === '1';
const skip = run ? false : 'packs and installs the package: GRAFT_PACKAGE_TEST=1 (npm run test:package)';
const NAME = 'graft-tune';

interface PackInfo {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

let dir = '';
let installSeconds = 0;
let pack: PackInfo;
// a user's environment: none of the npm_config_* that `npm run` passes down from this repository's .npmrc
const env = Object.fromEntries(
  Object.entries({ ...process.env, GRAFT_NUM_THREADS: '1' }).filter(([k]) => !/^npm_/i.test(k)),
) as Record<string, string>;

function sh(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}, timeout = 300_000) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...env, ...extra }, timeout });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/**
 * The app's package-lock.json: graft-tune from the tarball, and its dependencies exactly as this
 * repository's lock pins them (the entries not marked dev). With a lock npm installs from the
 * cached tarballs by integrity and asks the registry nothing; without one it would need every
 * dependency's metadata in the cache, which a lock-based `npm ci` never stores.
 */
function appLock(tarball: string): object {
  const repo = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Record<string, unknown> & { dev?: boolean }>;
  };
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { [NAME]: spec } },
    [`node_modules/${NAME}`]: {
      version: manifest.version,
      resolved: spec,
      integrity,
      hasInstallScript: true,
      license: manifest.license,
      dependencies: manifest.dependencies,
      bin: manifest.bin,
      engines: manifest.engines,
      peerDependencies: manifest.peerDependencies,
      peerDependenciesMeta: manifest.peerDependenciesMeta,
    },
  };
  for (const [k, v] of Object.entries(repo.packages)) if (k.startsWith('node_modules/') && !v.dev) packages[k] = v;
  return { name: 'app', lockfileVersion: 3, requires: true, packages };
}

function duBytes(p: string): number {
  const s = statSync(p, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.size;
  return readdirSync(p).reduce((n, f) => n + duBytes(join(p, f)), 0);
}

before(async () => {
  if (!run) return;
  dir = join(tmpdir(), `graft-pack-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = sh('npm', ['pack', '--json', '--pack-destination', dir], ROOT);
  pack = (JSON.parse(r.stdout.slice(r.stdout.indexOf('['))) as PackInfo[])[0]!;
  const app = join(dir, 'app');
  mkdirSync(app);
  // npm 11 reviews dependencies' install scripts against allowScripts: approved, it runs without a
  // warning. The key is the resolved spec, as `npm install-scripts approve` writes it: from the
  // registry `graft-tune@0.1.0`, here the tarball's file: spec
  const tarball = join(dir, pack.filename);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify(
      {
        name: 'app',
        private: true,
        type: 'module',
        dependencies: { [NAME]: `file:${tarball}` },
        allowScripts: { [`file:${tarball}`]: true },
      },
      null,
      2,
    ),
  );
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify(appLock(tarball), null, 2));
  const build: Record<string, string> =
    process.env.GRAFT_PACKAGE_TEST_BUILD === '1' ? {} : { GRAFT_ADDON_FROM: join(ROOT, 'build') };
  // compiling the addon takes minutes (more on a busy machine)
  const limit = build.GRAFT_ADDON_FROM ? 300_000 : 1_800_000;
  const t0 = performance.now();
  const i = sh('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], app, build, limit);
  installSeconds = (performance.now() - t0) / 1000;
  writeFileSync(join(dir, 'install.log'), `${i.stdout}\n${i.stderr}`);
  for (const f of readdirSync(HERE)) copyFileSync(join(HERE, f), join(app, f));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball holds the compiled package and nothing of the repository', { skip }, () => {
  const paths = pack.files.map((f) => f.path);
  for (const want of [
    'package.json',
    'README.md',
    'LICENSE',
    'bin/graft.mjs',
    'dist/index.js',
    'dist/index.d.ts',
    'dist/cli/main.js',
    'dist/data/worker.js',
    'dist/export/onnx.proto',
    'dist/track/proto/tensorboard/compat/proto/event.proto',
    'dist/track/proto/tensorboard/plugins/hparams/plugin_data.proto',
    'dist/track/proto/LICENSE',
    'scripts/native.mjs',
    'scripts/install.mjs',
    'native/graft.h',
    'docs/getting-started.md',
  ])
    assert.ok(paths.includes(want), `${want} is in the tarball`);
  const stray = paths.filter((p) =>
    /^(src|test|bench|examples|build|runs|node_modules)\/|\.ts$(?<!\.d\.ts)|^\.|tsconfig/.test(p),
  );
  assert.deepEqual(stray, []);
  assert.ok(pack.size < 2_000_000, `tarball ${pack.size} bytes`);
  console.log(
    `tarball ${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked, ${paths.length} files`,
  );
});

test('the install has graft-tune, its addon and no TensorFlow.js or dev tools', { skip }, () => {
  const nm = join(dir, 'app', 'node_modules');
  assert.ok(existsSync(join(nm, NAME, 'build', 'graft.node')), 'the install step put the addon in place');
  for (const absent of ['@tensorflow', 'nsfwjs', 'tsx', 'typescript', 'onnxruntime-node', '@biomejs'])
    assert.ok(!existsSync(join(nm, absent)), `${absent} is not installed`);
  // engines is truthful: Node 22 and 24 install without a warning (Node 20, past its end of life, warns)
  const log = readFileSync(join(dir, 'install.log'), 'utf8');
  if (Number(process.versions.node.split('.')[0]) >= 22) assert.doesNotMatch(log, /EBADENGINE/);
  assert.doesNotMatch(log, /not yet covered by allowScripts/, "the project's allowScripts approves graft-tune");
  // the install step ran (allowScripts approved it): it compiled the addon, or copied this checkout's
  assert.match(
    log,
    process.env.GRAFT_PACKAGE_TEST_BUILD === '1' ? /building the native addon/ : /copied the native addon/,
  );
  console.log(`install: node_modules ${(duBytes(nm) / 2 ** 20).toFixed(1)} MiB, npm ci ${installSeconds.toFixed(0)} s`);
});

test('without the addon: first use and doctor say what to do, graft setup puts it in place', { skip }, () => {
  const app = join(dir, 'app');
  const bin = join(app, 'node_modules', '.bin', 'graft');
  const addon = join(app, 'node_modules', NAME, 'build', 'graft.node');
  renameSync(addon, `${addon}.away`);
  try {
    const use = spawnSync(
      process.execPath,
      ['-e', "import('graft-tune').catch((e) => { console.error(String(e)); process.exit(3); })"],
      {
        cwd: app,
        encoding: 'utf8',
        env,
      },
    );
    assert.equal(use.status, 3);
    assert.match(use.stderr, /BindingError: the native addon is not built .*hint: run `npx graft setup`/);
    const doc = spawnSync(bin, ['doctor'], { cwd: app, encoding: 'utf8', env });
    assert.equal(doc.status, 1);
    assert.match(doc.stdout, /FAIL {2}addon .*graft\.node is not built\n\s+run: npx graft setup/);
    assert.match(doc.stdout, /ok {4}libtorch/);
  } finally {
    renameSync(`${addon}.away`, addon);
  }
  rmSync(addon);
  const setup = sh(bin, ['setup'], app, { GRAFT_ADDON_FROM: join(ROOT, 'build') });
  assert.match(setup.stdout, /copied the native addon/);
  assert.ok(existsSync(addon));
});

test('a plain-node JavaScript consumer fine-tunes two steps with a data-loader worker', { skip }, () => {
  const r = sh(process.execPath, ['train.mjs'], join(dir, 'app'));
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { losses: number[]; classes: string[] };
  assert.equal(out.losses.length, 2);
  assert.ok(out.losses.every(Number.isFinite), r.stdout);
  assert.deepEqual(out.classes, ['cat', 'dog']);
});

/** The ```lang blocks of a docs page, in order. */
function blocks(page: string, lang: string): string[] {
  const text = readFileSync(join(ROOT, 'docs', page), 'utf8');
  return [...text.matchAll(new RegExp(`\`\`\`${lang}\n([\\s\\S]*?)\`\`\``, 'g'))].map((m) => m[1]!);
}

function replaced(code: string, pairs: [string, string][]): string {
  for (const [from, to] of pairs) {
    assert.ok(code.includes(from), `getting-started.md no longer has ${from}`);
    code = code.replaceAll(from, to);
  }
  return code;
}

test("getting-started.md's scripts run as written against the installed package", { skip }, () => {
  const app = join(dir, 'app');
  const [first, finetune] = blocks('getting-started.md', 'js').filter((b) => b.includes("from 'graft-tune'"));
  writeFileSync(join(app, 'first.mjs'), first!);
  assert.match(sh(process.execPath, ['first.mjs'], app).stdout, /\[ 3, 2 \]/);
  // smaller: 32 px, 1 + 1 epochs; random weights instead of nsfwjs's (not installed here)
  const small = replaced(finetune!, [
    ["models.pretrained('mobilenet_v2', {", "{ model: models.create('mobilenet_v2', {"],
    ['trainSet.classes.length });', 'trainSet.classes.length }) };'],
    ['randomResizedCrop(128)', 'randomResizedCrop(32)'],
    ['resize(146)', 'resize(36)'],
    ['centerCrop(128)', 'centerCrop(32)'],
    ['epochs: 3', 'epochs: 1'],
  ]);
  writeFileSync(join(app, 'finetune.mjs'), small);
  const r = sh(process.execPath, ['finetune.mjs'], app);
  assert.match(r.stdout, /eval\.accuracy/);
  const p = sh(
    join(app, 'node_modules', '.bin', 'graft'),
    ['predict', 'runs/pets', 'pets/cat/0.png', '--top-k', '2', '--json'],
    app,
  );
  const preds = JSON.parse(p.stdout) as unknown[];
  assert.equal(preds.length, 1);
  // the recipe, planned (no nsfwjs here: the offline weights are left out)
  const [yaml] = blocks('getting-started.md', 'yaml');
  writeFileSync(join(app, 'pets.yaml'), replaced(yaml!, [[', pretrained: offline', '']]));
  const plan = sh(join(app, 'node_modules', '.bin', 'graft'), ['plan', 'pets.yaml', '--json'], app);
  assert.ok(JSON.parse(plan.stdout));
});

test('the coming-from pages: their code runs and every name their tables use exists', { skip }, () => {
  const app = join(dir, 'app');
  for (const page of ['coming-from-pytorch.md', 'coming-from-fastai.md', 'coming-from-huggingface.md']) {
    const file = join(app, page.replace('.md', '.mjs'));
    // the page's blocks as one script, then every `ns.name` its tables name, looked up (not the
    // Python's `torch.nn.functional`: a namespace preceded by a dot is someone else's)
    const names = [...readFileSync(join(ROOT, 'docs', page), 'utf8').matchAll(/`[^`]*`/g)]
      .flatMap((m) => [
        ...m[0].matchAll(
          /(?<![\w.])(data|finetune|io|models|nn|optim|prune|schedule|train|exporting)\.(?!(?:mjs|js|jsonl|json|ts|yaml|csv|pth|md)\b)(\w+)/g,
        ),
      ])
      .map((m) => [m[1]!, m[2]!]);
    const check = `import * as G from 'graft-tune';\nconst missing = ${JSON.stringify(names)}.filter(([ns, n]) => !(n in G[ns]));\nif (missing.length) throw new Error('missing: ' + missing.join(' '));`;
    writeFileSync(file, `${blocks(page, 'js').join('\n')}\n${check}\n`);
    sh(process.execPath, [file], app);
  }
});

// the namespaces src/index.ts exports: `export * as models from './models/index.ts'`
const NAMESPACES = [
  ...readFileSync(join(ROOT, 'src', 'index.ts'), 'utf8').matchAll(/export \* as (\w+) from '\.\/(\w+)\/index\.ts'/g),
].map((m) => ({ name: m[1]!, dir: m[2]! }));

test("every namespace is a subpath entry of the installed package ('graft-tune/models')", { skip }, () => {
  assert.ok(NAMESPACES.length >= 10);
  const script = `import * as G from 'graft-tune';
const bad = [];
for (const { name, dir } of ${JSON.stringify(NAMESPACES)}) {
  const sub = await import('graft-tune/' + dir);
  if (Object.keys(sub).sort().join() !== Object.keys(G[name]).sort().join()) bad.push(dir);
}
for (const hidden of ['binding', 'cli', 'util'])
  await import('graft-tune/' + hidden).then(() => bad.push(hidden), () => {});
console.log(JSON.stringify(bad));`;
  writeFileSync(join(dir, 'app', 'subpaths.mjs'), script);
  assert.equal(sh(process.execPath, ['subpaths.mjs'], join(dir, 'app')).stdout.trim(), '[]');
});

test('a TypeScript consumer type-checks with default tsc settings and runs as JavaScript', { skip }, () => {
  const app = join(dir, 'app');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  sh(process.execPath, [tsc, '--init'], app);
  const r0 = spawnSync(process.execPath, [tsc, '-p', '.'], { cwd: app, encoding: 'utf8' });
  assert.equal(r0.status, 0, `tsc:\n${r0.stdout}${r0.stderr}`);
  const r = sh(process.execPath, ['train.js'], app);
  const out = JSON.parse(r.stdout.trim()) as { losses: number[]; lr: number; registry: number };
  assert.equal(out.losses.length, 3);
  assert.ok(out.losses.slice(0, 2).every(Number.isFinite));
  assert.equal(out.losses[2], -1, 'an unknown model is an ArgumentError exported by the package');
  assert.equal(out.lr, 1e-2 * 0.25, 'StepLR from the graft-tune/schedule subpath halved the lr twice');
  assert.ok(out.registry > 5);
});

test('CommonJS: require() loads the ES modules', { skip }, () => {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  const flag = major > 22 || (major === 22 && minor >= 12) ? [] : ['--experimental-require-module', '--no-warnings'];
  const r = sh(process.execPath, [...flag, 'require.cjs'], join(dir, 'app'));
  const out = JSON.parse(r.stdout.trim()) as { torch: string; models: number };
  assert.match(out.torch, /^\d+\.\d+/);
});

test('the graft command runs the compiled CLI: --version, --help, doctor', { skip }, () => {
  const app = join(dir, 'app');
  const bin = join(app, 'node_modules', '.bin', 'graft');
  const v = sh(bin, ['--version'], app);
  assert.equal(v.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  const times = [0, 1, 2].map(() => {
    const t0 = performance.now();
    const h = sh(bin, ['--help'], app);
    assert.match(h.stdout, /usage: graft <command>/);
    return performance.now() - t0;
  });
  const ms = times.sort((a, b) => a - b)[1]!;
  const d = sh(bin, ['doctor', '--json'], app);
  const doc = JSON.parse(d.stdout) as { ok: boolean; checks: { name: string; ok: boolean }[] };
  assert.ok(doc.ok);
  assert.ok(doc.checks.find((c) => c.name === 'addon')?.ok);
  console.log(`graft --help from the install: ${ms.toFixed(0)} ms (median of 3)`);
});
