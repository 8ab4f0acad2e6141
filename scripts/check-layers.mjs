// Keeps DESIGN.md's layering: each src/ folder may import only the folders listed for it, and
// never another folder's private (`_`-prefixed) files. Only src/tensor/ reaches the native binding
// (c10d and the quantized kernels too: src/tensor/{dist,quant}_native.ts); src/report/ never
// touches tensors.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { root } from './native.mjs';

const base = ['errors.ts', 'util'];
const allowed = {
  util: ['errors.ts'],
  binding: [...base],
  tensor: ['binding', ...base],
  nn: ['tensor', ...base],
  io: ['tensor', 'nn', ...base],
  hub: [...base],
  models: ['tensor', 'nn', 'io', 'hub', ...base],
  optim: ['tensor', 'nn', ...base],
  prune: ['tensor', 'nn', ...base],
  schedule: ['optim', ...base],
  finetune: ['tensor', 'nn', 'io', 'models', 'optim', 'schedule', ...base],
  data: ['tensor', ...base],
  report: [...base],
  // the run board reads run folders (report's loaders, train's run lock) and never loads tensors
  board: ['report', 'train', ...base],
  train: ['tensor', 'nn', 'io', 'models', 'optim', 'schedule', 'finetune', 'data', 'report', ...base],
  dist: ['tensor', 'nn', 'optim', 'data', 'train', ...base],
  quant: ['tensor', 'nn', 'io', 'models', 'prune', ...base],
  export: ['tensor', 'nn', 'io', 'models', 'quant', 'prune', ...base],
  // run tracking: TensorBoard / CSV loggers and the training callback that feeds them
  track: ['tensor', 'nn', 'optim', 'train', 'report', ...base],
  recipe: [
    'tensor',
    'nn',
    'io',
    'models',
    'optim',
    'schedule',
    'finetune',
    'data',
    'train',
    'report',
    'dist',
    'prune',
    'quant',
    'export',
    'hub',
    'track',
    ...base,
  ],
};
// the command line may use everything, the recipes included
allowed.cli = [...allowed.recipe, 'recipe', 'board'];

const src = join(root, 'src');
const files = [];
(function walk(d) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p);
    else if (n.endsWith('.ts')) files.push(p);
  }
})(src);

const problems = [];
for (const f of files) {
  const rel = relative(src, f);
  const layer = rel.includes('/') ? rel.split('/')[0] : null;
  if (!layer) continue; // index.ts and errors.ts at the top may import anything below
  const ok = allowed[layer];
  if (!ok) {
    problems.push(`${rel}: folder src/${layer}/ is not a known layer (add it to scripts/check-layers.mjs and DESIGN)`);
    continue;
  }
  const text = readFileSync(f, 'utf8');
  for (const m of text.matchAll(
    /(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    const spec = m[1] ?? m[2];
    if (!spec.startsWith('.')) continue;
    const target = relative(src, resolve(dirname(f), spec));
    if (target.startsWith('..')) {
      problems.push(`${rel}: imports ${spec} outside src/`);
      continue;
    }
    const tlayer = target.includes('/') ? target.split('/')[0] : target;
    if (tlayer === layer) continue;
    // `_`-prefixed files are private to their folder: other folders go through its index.ts
    if (target.split('/').some((part) => part.startsWith('_')))
      problems.push(`${rel}: imports ${spec}, a file private to src/${tlayer}/ (import it from its index.ts)`);
    if (!ok.includes(tlayer)) problems.push(`${rel}: src/${layer}/ may not import ${spec} (allowed: ${ok.join(', ')})`);
  }
}
if (problems.length) {
  console.error(`layering violations (see shared DESIGN.md, "Layers"):\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`layers ok (${files.length} files)`);
