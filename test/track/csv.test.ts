// metrics.csv: a stable header (new tags get new columns at the right end, old rows padded),
// RFC 4180 quoting of odd tag names, nan/inf spelled as pandas reads them, rewind on resume.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CsvLogger, splitCsvLine } from '../../src/track/index.ts';

const withDir = (f: (dir: string) => void) => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-csv-'));
  try {
    f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};
const lines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);

test('columns never move: a new tag is appended and earlier rows get an empty cell', () =>
  withDir((dir) => {
    const path = join(dir, 'sub', 'metrics.csv');
    const log = new CsvLogger({ path });
    assert.equal(existsSync(path), false, 'nothing written before the first row');
    log.logScalars(10, { 'train/loss_step': 0.5, 'lr/head': 0.1 }, 100);
    log.logScalars(20, { 'lr/head': 0.05, 'train/loss_step': 0.25 }, 101);
    log.logScalars(20, { epoch: 0, 'eval/accuracy': 0.75, 'train/loss_step': Number.NaN }, 102);
    log.logScalars(30, { 'lr/head': Number.POSITIVE_INFINITY, 'x,"y"': Number.NEGATIVE_INFINITY }, 103);
    assert.deepEqual(lines(path), [
      'step,time,train/loss_step,lr/head,epoch,eval/accuracy,"x,""y"""',
      '10,100,0.5,0.1,,,',
      '20,101,0.25,0.05,,,',
      '20,102,nan,,0,0.75,',
      '30,103,,inf,,,-inf',
    ]);
    assert.deepEqual(log.columns, ['step', 'time', 'train/loss_step', 'lr/head', 'epoch', 'eval/accuracy', 'x,"y"']);
    assert.deepEqual(splitCsvLine(lines(path)[0]!).at(-1), 'x,"y"');
    // histograms and hyper-parameters are not CSV's business
    log.logHistogram();
    log.logHparams({ lr: 1 });
    log.close();
    assert.equal(lines(path).length, 5);
  }));

test('a new logger starts the file afresh; rewind keeps the rows up to a step and the header', () =>
  withDir((dir) => {
    const path = join(dir, 'metrics.csv');
    const a = new CsvLogger({ path });
    for (const step of [1, 2, 3, 4]) a.logScalars(step, { loss: step / 10 }, step);
    const b = new CsvLogger({ path });
    b.rewind(2);
    assert.deepEqual(lines(path), ['step,time,loss', '1,1,0.1', '2,2,0.2']);
    b.logScalars(3, { loss: 0.33, acc: 0.5 }, 9);
    assert.deepEqual(lines(path), ['step,time,loss,acc', '1,1,0.1,', '2,2,0.2,', '3,9,0.33,0.5']);
    const c = new CsvLogger({ path });
    c.logScalars(1, { other: 1 }, 1);
    assert.deepEqual(lines(path), ['step,time,other', '1,1,1']);
  }));
