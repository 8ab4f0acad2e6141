// Finds an installed npm package's folder, even when its "exports" hide package.json.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { CheckpointError } from '../../errors.ts';

export function packageDir(name: string, from: string = process.cwd(), install = `npm install ${name}`): string {
  const paths = createRequire(join(from, 'noop.js')).resolve.paths(name) ?? [];
  const here = createRequire(import.meta.url).resolve.paths(name) ?? [];
  for (const base of [...paths, ...here]) {
    const dir = join(base, name);
    if (existsSync(join(dir, 'package.json'))) return dir;
  }
  throw new CheckpointError(name, 'npm package not installed', install);
}
