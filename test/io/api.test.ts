// The io API the README names is exported, from graft.io and from the package root.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as graft from '../../src/index.ts';
import { packageDir } from '../../src/io/tfjs/package_dir.ts';

const README = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'), 'utf8');
const NAMESPACES = Object.keys(graft).filter((k) => {
  const v = (graft as Record<string, unknown>)[k];
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === null;
});

test('io.readTfjsModel is exported and reads a TF.js model', () => {
  assert.equal(typeof graft.io.readTfjsModel, 'function');
  const m = graft.io.readTfjsModel(join(packageDir('nsfwjs'), 'dist', 'models', 'mobilenet_v2'));
  assert.ok(m.weights.size > 100);
});

test("every name the README imports from 'graft-tune' or calls as ns.name exists", () => {
  const missing: string[] = [];
  for (const m of README.matchAll(/import \{([^}]+)\} from 'graft-tune'/g))
    for (const name of m[1]!.split(',').map((s) => s.trim()))
      if (name && !(name in graft)) missing.push(`import { ${name} }`);
  // ns.name in code blocks and inline code: API names are camelCase or capitalised, or called (`ns.name(`)
  // (recipe keys such as `train.seed` are lower-case words and not called)
  const spans = [...README.matchAll(/```ts\n([\s\S]*?)```|`([^`\n]+)`/g)].map((m) => m[1] ?? m[2]!);
  const declared = new Set(
    [...README.matchAll(/```ts\n([\s\S]*?)```/g)].flatMap((m) =>
      [...m[1]!.matchAll(/\b(?:const|let|var)\s+(\w+)/g)].map((d) => d[1]!),
    ),
  );
  const checked = new Set<string>();
  for (const span of spans)
    for (const m of span.matchAll(/\b([a-z]\w*)\.([A-Za-z_]\w*)(\()?/g)) {
      const [, ns, name, call] = m;
      if (!NAMESPACES.includes(ns!) || declared.has(ns!)) continue;
      if (!call && !/[A-Z]/.test(name!)) continue;
      checked.add(`${ns}.${name}`);
      if (!(name! in (graft as unknown as Record<string, Record<string, unknown>>)[ns!]!))
        missing.push(`${ns}.${name}`);
    }
  assert.ok(checked.has('io.readTfjsModel') && checked.has('io.loadCheckpoint'), [...checked].join(' '));
  assert.deepEqual(missing, []);
});
