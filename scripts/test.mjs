// Runs every test/**/*.test.ts with node's test runner through tsx.
// GRAFT_SLOW=1 also runs tests tagged slow (they check process.env.GRAFT_SLOW themselves).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { root } from './native.mjs';

function collect(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (name === 'fixtures' || name === 'node_modules') continue;
    if (statSync(p).isDirectory()) collect(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const filter = process.argv.slice(2);
let files = collect(join(root, 'test'));
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { GRAFT_NUM_THREADS: '1', ...process.env },
});
process.exit(r.status ?? 1);
