// Labels never change meaning silently: declared classes refuse an unknown label (naming the line),
// an undeclared rare label that looks like a typo of a frequent one is warned about, and text that
// is not UTF-8 is an error naming the line (or, under 'skip', a dropped and counted row).
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DataError,
  DataLoader,
  imageFolder,
  imageFolderSplits,
  imageManifest,
  readTable,
  splitDataset,
  TextTokenizer,
  textDataset,
} from '../../src/data/index.ts';
import { editDistance, looksAlike } from '../../src/data/labels.ts';
import { invalidUtf8Lines } from '../../src/data/utf8.ts';
import { makeFolder, tempDir, writeImage } from './_helpers.ts';

const tmp = tempDir();
const img = join(tmp.dir, 'one.png');
const wp = TextTokenizer.load(new URL('../fixtures/data/wordpiece', import.meta.url).pathname);
before(async () => {
  await writeImage(img, 8, 8, 1);
});
after(() => tmp.cleanup());

/** A manifest of `one.png` rows with these labels (line k + 2 holds labels[k]). */
function manifest(name: string, labels: (string | number)[]): string {
  const f = join(tmp.dir, name);
  writeFileSync(f, ['path,label', ...labels.map((l) => `one.png,${l}`)].join('\n'));
  return f;
}

const collect = () => {
  const lines: string[] = [];
  return { lines, warn: (m: string) => lines.push(m) };
};

const DOGS_AND_CATS = ['dog', 'cat', 'dog', 'cat', 'dog', 'cat', 'dgo', 'dog', 'cat', 'dog', 'cat', 'dog', 'cat'];

describe('declared classes', () => {
  test('an unknown label is an error naming the line and the nearest class', () => {
    const f = manifest('typo.csv', DOGS_AND_CATS);
    assert.throws(
      () => imageManifest(f, { classes: ['cat', 'dog'] }),
      (e: DataError) =>
        e instanceof DataError &&
        e.message.startsWith(`${f}: line 8: label 'dgo' is not one of the 2 declared classes (did you mean 'dog'?)`) &&
        /add it to the declared classes \(cat, dog\)/.test(e.message),
    );
  });

  test("under onBadSample 'skip' the row is dropped, recorded, counted and warned about", async () => {
    const f = manifest('typo_skip.csv', DOGS_AND_CATS);
    const w = collect();
    const ds = imageManifest(f, { classes: ['cat', 'dog'], onBadSample: 'skip', warn: w.warn });
    assert.equal(ds.length, 12);
    assert.deepEqual(ds.classes, ['cat', 'dog']);
    assert.equal(ds.bad.length, 1);
    assert.match(ds.bad[0]!.reason, /label 'dgo'/);
    assert.equal(w.lines.length, 1);
    assert.match(w.lines[0]!, /^skipped .*one\.png: label 'dgo' is not one of/);
    // the loader lists the dropped row at once and counts it on every epoch's pass (it is left out of each)
    const loader = new DataLoader(ds, { batchSize: 12, warn: w.warn });
    assert.deepEqual(loader.skippedSamples, [{ path: img, reason: ds.bad[0]!.reason }]);
    assert.equal(loader.skipped, 0);
    for (let epoch = 1; epoch <= 2; epoch++) {
      for await (const b of loader) b.dispose();
      assert.equal(loader.skipped, epoch);
    }
    assert.equal(w.lines.length, 1, 'the dataset warned; the loader does not repeat it');
    // a split counts the dropped row once, on its training side
    const parts = splitDataset(ds, { valRatio: 0.5 });
    assert.deepEqual([parts.train.bad.length, parts.val.bad.length], [1, 0]);
  });

  test('integer labels index into declared names; one out of range is refused', () => {
    const ds = imageManifest(manifest('ints.csv', [1, 0, 1]), { classes: ['cat', 'dog'] });
    assert.deepEqual(ds.targets, [1, 0, 1]);
    assert.throws(
      () => imageManifest(manifest('ints_bad.csv', [1, 0, 2]), { classes: ['cat', 'dog'] }),
      /ints_bad\.csv: line 4: label 2 is outside the 2 declared classes \(0\.\.1\)/,
    );
  });

  test('text datasets: the same rule', () => {
    const f = join(tmp.dir, 'text.csv');
    writeFileSync(f, 'text,label\nthe dog,pos\nthe fox,neg\nthe cat,Pos\n');
    assert.throws(
      () => textDataset(f, wp, { classes: ['neg', 'pos'] }),
      /text\.csv: line 4: label 'Pos' is not one of the 2 declared classes \(did you mean 'pos'\?\)/,
    );
  });

  test('image folders: a folder that is not a declared class is refused', async () => {
    const root = join(tmp.dir, 'folders');
    await makeFolder(join(root, 'train'), { cat: 1, dog: 1, dgo: 1 });
    await makeFolder(join(root, 'val'), { cat: 1, dog: 1 });
    assert.throws(
      () => imageFolderSplits(root, { classes: ['cat', 'dog'] }),
      (e: DataError) =>
        e instanceof DataError &&
        e.file === join(root, 'train', 'dgo') &&
        /not one of the 2 declared classes \(did you mean 'dog'\?\)/.test(e.message),
    );
  });
});

describe('undeclared classes: near-duplicate warnings', () => {
  test('a rare label one typo from a frequent one is named with file and line', () => {
    const f = manifest('rare.csv', DOGS_AND_CATS);
    const w = collect();
    const ds = imageManifest(f, { warn: w.warn });
    assert.deepEqual(ds.classes, ['cat', 'dgo', 'dog'], 'still a class of its own: a warning, not a change');
    assert.equal(w.lines.length, 1);
    assert.equal(
      w.lines[0],
      `${f}:8: label 'dgo' (line 8) has 1 row and looks like a typo of 'dog' (6 rows); it trains as a class of its own: ` +
        'fix it, or declare the classes (data.classes in a recipe, the classes option in the API) to refuse unknown labels',
    );
  });

  test('case and separators count as alike; frequent or distant labels and integers do not warn', () => {
    const w = collect();
    imageManifest(manifest('case.csv', [...Array(6).fill('golden_retriever'), 'Golden Retriever', 'cat']), {
      warn: w.warn,
    });
    assert.equal(w.lines.length, 1);
    assert.match(
      w.lines[0]!,
      /label 'Golden Retriever' \(line 8\) has 1 row and looks like a typo of 'golden_retriever'/,
    );
    const quiet = collect();
    // 'car' and 'cat' are one edit apart but both common; 'cow' is rare but not alike; integers are indices
    imageManifest(manifest('fine.csv', ['car', 'cat', 'car', 'cat', 'car', 'cat', 'cow', 'car', 'cat']), {
      warn: quiet.warn,
    });
    imageManifest(manifest('ints_fine.csv', [1, 1, 1, 1, 1, 1, 7]), { warn: quiet.warn });
    imageManifest(manifest('numbered.csv', [...Array(6).fill('stage_1'), 'stage_2']), { warn: quiet.warn });
    assert.deepEqual(quiet.lines, []);
  });

  test('text files and image folders warn too', async () => {
    const f = join(tmp.dir, 'reviews.jsonl');
    const rows = Array.from({ length: 10 }, (_, i) => ({ text: 'a film', label: i % 2 ? 'positive' : 'negative' }));
    rows.push({ text: 'the dog', label: 'postive' });
    writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n'));
    const w = collect();
    textDataset(f, wp, { warn: w.warn });
    assert.equal(w.lines.length, 1);
    assert.match(
      w.lines[0]!,
      /reviews\.jsonl:11: label 'postive' \(line 11\) has 1 row and looks like a typo of 'positive' \(5 rows\)/,
    );
    const root = join(tmp.dir, 'typo_folder');
    await makeFolder(root, { tulip: 5, rose: 5, tulpi: 1 });
    const fw = collect();
    imageFolder(root, { warn: fw.warn });
    assert.equal(fw.lines.length, 1);
    assert.match(
      fw.lines[0]!,
      /typo_folder: label 'tulpi' has 1 image and looks like a typo of 'tulip' \(5 images\).*rename the folder/,
    );
  });

  test('the distance: adjacent swaps are one edit', () => {
    assert.equal(editDistance('dgo', 'dog'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.ok(looksAlike('airplane', 'airplnae'));
    assert.ok(!looksAlike('cat', 'dog'));
  });
});

describe('text that is not UTF-8', () => {
  const latin1 = (s: string) => Buffer.from(s, 'latin1');

  test('a manifest or text file: an error naming the line, not silent U+FFFD', () => {
    const f = join(tmp.dir, 'latin1.csv');
    writeFileSync(
      f,
      Buffer.concat([Buffer.from('text,label\nfine,pos\n'), latin1('caf\xe9 au lait,neg\n'), Buffer.from('ok,pos\n')]),
    );
    assert.throws(
      () => textDataset(f, wp),
      (e: DataError) =>
        e instanceof DataError &&
        e.message.startsWith(`${f}: line 3: not valid UTF-8`) &&
        /iconv -f latin1/.test(e.message),
    );
    const w = collect();
    const ds = textDataset(f, wp, { onBadSample: 'skip', warn: w.warn });
    assert.equal(ds.length, 2);
    assert.deepEqual(ds.bad, [{ file: `${f}:3`, reason: 'not valid UTF-8' }]);
    assert.deepEqual(w.lines, [`skipped ${f}:3: not valid UTF-8`]);
  });

  test('a quoted CSV cell spanning lines, JSONL, and a bad header', () => {
    const f = join(tmp.dir, 'multi.csv');
    writeFileSync(
      f,
      Buffer.concat([Buffer.from('text,label\n"two\nline'), latin1('\xff'), Buffer.from('s",pos\nok,neg\n')]),
    );
    const t = readTable(f, { onBadSample: 'skip' });
    assert.deepEqual(t.bad, [{ file: `${f}:2`, reason: 'not valid UTF-8' }]);
    assert.equal(t.rows.length, 1);
    const j = join(tmp.dir, 'bad.jsonl');
    writeFileSync(
      j,
      Buffer.concat([Buffer.from('{"text":"a","label":1}\n{"text":"'), latin1('\xe9'), Buffer.from('","label":0}\n')]),
    );
    assert.throws(() => readTable(j), /bad\.jsonl: line 2: not valid UTF-8/);
    const h = join(tmp.dir, 'head.csv');
    writeFileSync(h, Buffer.concat([latin1('t\xe9xt,label\n'), Buffer.from('a,b\n')]));
    assert.throws(() => readTable(h, { onBadSample: 'skip' }), /head\.csv: line 1: not valid UTF-8/);
  });

  test('the line finder agrees with the UTF-8 decoder on random bytes', () => {
    const dir = join(tmp.dir, 'utf8');
    mkdirSync(dir);
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 16;
    };
    const pool = [
      0x0a, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xa0, 0xed, 0x9f, 0xa0, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5,
    ];
    for (let n = 0; n < 3000; n++) {
      const b = Buffer.from(Array.from({ length: 1 + (rand() % 8) }, () => pool[rand() % pool.length]!));
      assert.equal(invalidUtf8Lines(b).length === 0, isUtf8(b), b.toString('hex'));
    }
    assert.deepEqual(
      invalidUtf8Lines(Buffer.from([0x61, 0x0a, 0xe2, 0x82, 0x0a, 0xe2, 0x82, 0xac, 0x0a, 0xed, 0xa0, 0x80])),
      [2, 4],
    );
  });
});
