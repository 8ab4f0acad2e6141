// Runs BODY (an ES module) in a fresh Node process at the repository root, with ENV over this
// process's environment minus the variables starting with DROP (settings read once, at load), and
// answers the JSON of its last stdout line. For tests of what libtorch's allocator does at load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function childJson(drop: string, env: Record<string, string>, body: string): any {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith(drop)));
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...clean, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
