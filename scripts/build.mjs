// `npm run build` (and prepack): compiles src/*.ts into dist/ as JavaScript + .d.ts for the
// published package. The repository itself runs the sources through tsx and needs no build.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, sep } from 'node:path';
import { root } from './native.mjs';

const dist = join(root, 'dist');
rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
// GRAFT_BUILD_LOOSE=1 keeps what tsc emits even when some file does not type-check (a tree being
// worked on); a release build must type-check
try {
  execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
} catch (e) {
  if (process.env.GRAFT_BUILD_LOOSE !== '1') throw e;
  console.warn('graft: dist/ built with type errors (GRAFT_BUILD_LOOSE=1)');
}

// tsc rewrites `./x.ts` to `./x.js` in the JavaScript but leaves declaration files as written;
// `.js` there too, so a consumer's compiler needs no allowImportingTsExtensions (or TS >= 5) to follow them
const relTs = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
let files = 0;
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const path = join(entry.parentPath, entry.name);
  const text = readFileSync(path, 'utf8');
  const fixed = text.replace(relTs, '$1$2.js$3');
  if (fixed !== text) writeFileSync(path, fixed);
  files++;
}
// files the code loads at run time next to itself: protobuf definitions (src/export/onnx.proto,
// TensorBoard's under src/track/proto/) and the licence that comes with TensorBoard's
const assets = [];
for (const entry of readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const rel = relative(join(root, 'src'), join(entry.parentPath, entry.name));
  if (!entry.name.endsWith('.proto') && !(rel.includes(`proto${sep}`) && entry.name === 'LICENSE')) continue;
  mkdirSync(join(dist, dirname(rel)), { recursive: true });
  copyFileSync(join(root, 'src', rel), join(dist, rel));
  assets.push(rel);
}
console.log(`graft: built dist/ (${files} declaration files, ${assets.length} .proto and licence files)`);
