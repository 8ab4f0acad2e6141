// `graft predict` takes image files, folders (recursively) and globs, writes CSV or JSON with --out,
// and its errors name the input and an option predict has. The run folder is a tiny exported model.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { readTable } from '../../src/data/index.ts';
import * as models from '../../src/models/index.ts';
import { saveModel } from '../../src/train/index.ts';
import { capture, rmDir, textData, tinyBert, tmpDir, writeImage } from '../recipe/_helpers.ts';

const graft = (...args: string[]) => capture(() => main(args));
const dir = tmpDir('graft-predict-');
const run = join(dir, 'run');
const photos = join(dir, 'photos');
const CLASSES = ['apple', 'banana, ripe', 'cherry'];

before(async () => {
  mkdirSync(run);
  const model = models.create('cifar_net', { numClasses: 3 });
  saveModel(run, model, { classNames: CLASSES, preprocessing: { kind: 'image', inputSize: [3, 32, 32] } });
  model.dispose();
  await writeImage(join(photos, 'b.png'), 0, 1, 24, 20);
  await writeImage(join(photos, 'a.jpg'), 1, 2, 30, 30);
  await writeImage(join(photos, 'sub', 'c.png'), 2, 3, 16, 16);
  writeFileSync(join(photos, 'notes.txt'), 'not an image');
  mkdirSync(join(dir, 'empty'));
});
after(() => rmDir(dir));

test('a folder: every image file in it and its sub-folders, sorted; other files ignored', async () => {
  const r = await graft('predict', run, photos, '--json', '--top-k', '2');
  assert.equal(r.code, 0, r.err);
  const p = JSON.parse(r.out);
  assert.deepEqual(
    p.map((x: { input: string }) => x.input),
    [join(photos, 'a.jpg'), join(photos, 'b.png'), join(photos, 'sub', 'c.png')],
  );
  for (const x of p) {
    assert.equal(x.top.length, 2);
    assert.ok(CLASSES.includes(x.top[0].label));
  }
});

test('globs (quoted, so graft expands them), mixed with files; each image once', async () => {
  const r = await graft(
    'predict',
    run,
    join(photos, '*.png'),
    join(photos, '**', '*.png'),
    join(photos, 'a.jpg'),
    '--json',
  );
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(
    JSON.parse(r.out).map((x: { input: string }) => x.input),
    [join(photos, 'b.png'), join(photos, 'sub', 'c.png'), join(photos, 'a.jpg')],
  );
});

test('--out FILE.csv writes path, then label and probability of each of the top k', async () => {
  const csv = join(dir, 'preds.csv');
  const r = await graft('predict', run, photos, '--top-k', '3', '--out', csv);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `wrote 3 predictions (top 3) to ${csv}`);
  const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
  assert.equal(lines[0], 'path,label_1,prob_1,label_2,prob_2,label_3,prob_3');
  assert.equal(lines.length, 4);
  assert.ok(lines[1]!.startsWith(`${join(photos, 'a.jpg')},`));
  // the label with a comma is quoted; a CSV reader gets the names back and probabilities that add up to 1
  assert.ok(lines.slice(1).every((l) => l.includes('"banana, ripe"')));
  for (const row of readTable(csv).rows) {
    const v = row.values as Record<string, string>;
    assert.deepEqual([v.label_1, v.label_2, v.label_3].sort(), [...CLASSES].sort());
    const sum = Number(v.prob_1) + Number(v.prob_2) + Number(v.prob_3);
    assert.ok(Math.abs(sum - 1) < 1e-5, String(sum));
    assert.ok(Number(v.prob_1) >= Number(v.prob_2));
  }
  const json = join(dir, 'preds.json');
  assert.equal((await graft('predict', run, join(photos, 'b.png'), '--out', json)).code, 0);
  assert.equal(JSON.parse(readFileSync(json, 'utf8'))[0].top.length, 3);
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
  );
  const bad = await graft('predict', run, photos, '--out', join(dir, 'preds.txt'));
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--out needs a \.csv or \.json file name/);
});

test('inputs that name nothing, or no image, are errors naming them, before the model loads', async () => {
  const missing = await graft('predict', run, join(photos, 'nope.png'));
  assert.equal(missing.code, 1);
  assert.equal(missing.err, `graft predict: ${join(photos, 'nope.png')}: no such file or folder`);
  const empty = await graft('predict', run, join(dir, 'empty'));
  assert.equal(empty.code, 1);
  assert.match(empty.err, /empty: folder holds no image files \(hint: image files have the extensions \.jpg/);
  const glob = await graft('predict', run, join(photos, '*.gif'));
  assert.equal(glob.code, 1);
  assert.match(glob.err, /\*\.gif: the pattern matches nothing/);
  assert.ok(!existsSync(join(dir, 'nope.csv')));
});

test('errors name only options predict has (no onBadSample); the pixel limit names --max-image-pixels', async () => {
  const corrupt = join(dir, 'corrupt.png');
  writeFileSync(corrupt, 'not a png');
  const c = await graft('predict', run, corrupt);
  assert.equal(c.code, 1);
  assert.match(c.err, /corrupt\.png: cannot decode image/);
  assert.doesNotMatch(c.err, /onBadSample/);
  const big = join(photos, 'a.jpg'); // 30 x 30 = 900 pixels
  const r = await graft('predict', run, big, '--max-image-pixels', '899');
  assert.equal(r.code, 1);
  assert.match(r.err, /a\.jpg: image is 30x30 = 0\.0 MP, over the limit of 899 pixels/);
  assert.match(r.err, /\(hint: if the image is trusted, raise the limit: --max-image-pixels 900\)$/);
  assert.equal((await graft('predict', run, big, '--max-image-pixels', '900')).code, 0);
});

test('one unreadable image among several: the others are predicted, it is named, exit code 1', async () => {
  const corrupt = join(dir, 'broken.png');
  writeFileSync(corrupt, 'not a png');
  const good = join(photos, 'a.jpg');
  const other = join(photos, 'b.png');
  const out = join(dir, 'mixed.csv');
  const r = await graft('predict', run, good, corrupt, other, '--out', out);
  assert.equal(r.code, 1);
  assert.match(r.err, /skipped .*broken\.png: cannot decode image/);
  assert.match(r.err, /1 of 3 inputs could not be read/);
  const rows = readTable(out).rows.map((r) => r.values as Record<string, string>);
  assert.deepEqual(
    rows.map((r) => r.path),
    [good, corrupt, other],
    'a row per input, in order',
  );
  assert.ok(rows[0]!.label_1 && rows[0]!.error === '', 'the readable one has labels and no error');
  assert.ok(rows[1]!.label_1 === '' && /cannot decode image/.test(rows[1]!.error!));
  const alone = await graft('predict', run, other, '--json');
  assert.equal(JSON.parse(alone.out)[0].top[0].label, rows[2]!.label_1, 'the one after it as when predicted alone');
});

test('a text model: texts and files of texts; a folder or a file that is not UTF-8 is an error naming it', async () => {
  const text = textData(join(dir, 'text'));
  const bert = join(dir, 'bert');
  mkdirSync(bert);
  const model = models.create('bert-base-uncased', { config: tinyBert(text.vocabSize), numClasses: 2 });
  saveModel(bert, model, {
    architecture: 'bert-base-uncased',
    modelOptions: { config: tinyBert(text.vocabSize) },
    classNames: ['neg', 'pos'],
    preprocessing: { kind: 'text', tokenizer: { vocab: text.vocab }, maxLength: 16 },
  });
  model.dispose();
  const lines = join(dir, 'reviews.txt');
  writeFileSync(lines, 'the film was good\n\nawful plot\n');
  const csv = join(dir, 'texts.csv');
  const r = await graft('predict', bert, 'very bad', lines, '--out', csv);
  assert.equal(r.code, 0, r.err);
  const t = readTable(csv);
  assert.deepEqual(t.columns, ['text', 'label_1', 'prob_1', 'label_2', 'prob_2']);
  assert.deepEqual(
    t.rows.map((x) => x.values.text),
    ['very bad', 'the film was good', 'awful plot'],
  );
  const folder = await graft('predict', bert, join(dir, 'text'));
  assert.equal(folder.code, 1);
  assert.match(folder.err, /text: is a folder: a text model takes texts, or files whose lines are texts/);
  writeFileSync(lines, Buffer.concat([Buffer.from('fine\n'), Buffer.from('caf\xe9\n', 'latin1')]));
  const latin = await graft('predict', bert, lines);
  assert.equal(latin.code, 1);
  assert.match(latin.err, /reviews\.txt: line 2: not valid UTF-8 \(hint: save the file as UTF-8/);
});
