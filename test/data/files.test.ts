// Inputs named on a command line: files, folders and globs, expanded in a stable order.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DataError, expandGlob, imageInputs } from '../../src/data/index.ts';
import { tempDir } from './_helpers.ts';

const tmp = tempDir();
const touch = (...p: string[]) => {
  mkdirSync(join(tmp.dir, ...p.slice(0, -1)), { recursive: true });
  writeFileSync(join(tmp.dir, ...p), '');
};
before(() => {
  for (const f of [
    ['a', '2.png'],
    ['a', '10.PNG'],
    ['a', 'b', '1.jpg'],
    ['a', '.hidden.png'],
    ['a', 'x.txt'],
    ['c', 'd', 'e.webp'],
  ])
    touch(...f);
});
after(() => tmp.cleanup());

test('globs: * and ? stay in a folder, ** crosses folders, [..] classes, no leading dots; relative stays relative', () => {
  const d = tmp.dir;
  assert.deepEqual(expandGlob(join(d, 'a', '*.png')), [join(d, 'a', '2.png')]);
  assert.deepEqual(
    expandGlob(join(d, 'a', '*')),
    ['10.PNG', '2.png', 'b', 'x.txt'].map((f) => join(d, 'a', f)),
  );
  assert.deepEqual(expandGlob(join(d, '**', '*.jpg')), [join(d, 'a', 'b', '1.jpg')]);
  assert.deepEqual(expandGlob(join(d, '?', 'd', '*')), [join(d, 'c', 'd', 'e.webp')]);
  assert.deepEqual(expandGlob(join(d, 'a', '[0-9].png')), [join(d, 'a', '2.png')]);
  const cwd = process.cwd();
  process.chdir(d);
  try {
    assert.deepEqual(expandGlob('a/b/*'), [join('a', 'b', '1.jpg')]);
    assert.deepEqual(expandGlob('*/d/*.webp'), [join('c', 'd', 'e.webp')]);
  } finally {
    process.chdir(cwd);
  }
});

test('imageInputs: files as given, folders and glob matches as their image files, each once', () => {
  const d = tmp.dir;
  const a = (...p: string[]) => join(d, 'a', ...p);
  assert.deepEqual(imageInputs([a('x.txt'), a(), join(d, 'a', '*.png')]), [
    a('x.txt'),
    a('.hidden.png'),
    a('10.PNG'),
    a('2.png'),
    a('b', '1.jpg'),
  ]);
  assert.deepEqual(imageInputs([join(d, '*')]).length, 5, 'a glob matching folders takes their images');
  assert.throws(
    () => imageInputs([join(d, 'nope')]),
    (e: DataError) => e instanceof DataError && /no such file or folder/.test(e.message),
  );
  assert.throws(() => imageInputs([join(d, 'a', '*.txt')]), /matches 1 path but no image file/);
});
