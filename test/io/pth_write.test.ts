import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ArgumentError, CheckpointError, ShapeError } from '../../src/errors.ts';
import { writeAtomic } from '../../src/io/file.ts';
import {
  detectFormat,
  PyObject,
  PyOrderedDict,
  type PyValue,
  rawTensor,
  readPth,
  writePth,
} from '../../src/io/index.ts';
import { describe, expected, FIX, normalize, sampleCheckpoint, sampleStateDict, withTmp } from './_helpers.ts';

// Committed files written by graft and checked with torch.load by scripts/fixtures/check_pth_written.py
// (its output is graft_written.check.txt). GRAFT_UPDATE_FIXTURES=1 rewrites them; then rerun the check.
const WRITTEN = join(FIX, 'graft_written.pth');
const WRITTEN64 = join(FIX, 'graft_written_zip64.pth');
const WRITTEN_SD = join(FIX, 'graft_written_state_dict.pth');
const COMMITTED: [string, () => PyValue, { forceZip64?: boolean }][] = [
  [WRITTEN, sampleCheckpoint, {}],
  [WRITTEN64, sampleCheckpoint, { forceZip64: true }],
  [WRITTEN_SD, sampleStateDict, {}],
];

if (process.env.GRAFT_UPDATE_FIXTURES === '1') {
  for (const [p, make, opts] of COMMITTED) {
    writePth(p, make(), opts);
    const recs = describe(make()).map((r) => JSON.stringify(r, replacer));
    writeFileSync(p.replace(/\.pth$/, '.expect.json'), `[\n${recs.join(',\n')}\n]\n`);
  }
}

function replacer(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? String(v) : v;
}

test('writePth output is byte-identical to the committed file torch.load verified', () => {
  withTmp((dir) => {
    for (const [src, make, opts] of COMMITTED) {
      const p = join(dir, 'out.pth');
      writePth(p, make(), opts);
      assert.deepEqual(readFileSync(p), readFileSync(src), `${src} differs: rerun check_pth_written.py`);
    }
  });
  assert.match(readFileSync(join(FIX, 'graft_written.check.txt'), 'utf8'), /\nOK\n?$/);
});

test('graft write -> graft read gives the same tree (zip and ZIP64)', () => {
  withTmp((dir) => {
    for (const forceZip64 of [false, true]) {
      const p = join(dir, `rt${forceZip64}.pth`);
      writePth(p, sampleCheckpoint(), { forceZip64 });
      assert.equal(detectFormat(p), 'pth-zip');
      const back = readPth(p) as Map<string, PyValue>;
      assert.deepEqual(describe(back), describe(sampleCheckpoint()));
      const sd = back.get('state_dict') as PyOrderedDict;
      assert.ok(sd instanceof PyOrderedDict);
      assert.deepEqual([...(sd.metadata as Map<string, PyValue>).keys()], ['']);
      assert.equal(sd.get('tied.x'), sd.get('tied.y'), 'one tensor written once, read as one object');
      const a = sd.get('shared.a') as { data: Uint8Array };
      const b = sd.get('shared.b') as { data: Uint8Array };
      assert.equal(a.data.buffer, b.data.buffer, 'views of one buffer are written as one storage');
      const state = (back.get('optimizer') as Map<string, PyValue>).get('state') as Map<number, PyValue>;
      assert.deepEqual([...state.keys()], [0, 1]);
      assert.ok(back.get('args') instanceof PyObject);
    }
  });
});

test('torch.save fixtures survive graft read -> write -> read unchanged', () => {
  withTmp((dir) => {
    for (const name of ['state_dict.pth', 'checkpoint.pth', 'legacy.pth', 'protocol5.pth']) {
      const first = readPth(join(FIX, name));
      const p = join(dir, name);
      writePth(p, first);
      assert.deepEqual(describe(readPth(p)), normalize(expected.files[name]!), name);
    }
  });
});

test('writePth accepts plain objects and arrays as dicts and lists', () => {
  withTmp((dir) => {
    const p = join(dir, 'plain.pth');
    const w = rawTensor('float32', [2]);
    writePth(p, { epoch: 1, model: { w }, hist: [1.5, 2] });
    const back = readPth(p) as Map<string, PyValue>;
    assert.equal(back.get('epoch'), 1);
    assert.deepEqual((back.get('model') as Map<string, PyValue>).get('w'), w);
    assert.deepEqual(back.get('hist'), [1.5, 2]);
  });
});

test('writePth refuses values it cannot represent, and leaves no file behind', () => {
  withTmp((dir) => {
    const p = join(dir, 'bad.pth');
    assert.throws(() => writePth(p, { f: (() => 1) as never }), ArgumentError);
    assert.throws(() => writePth(p, { d: new Date() as never }), ArgumentError);
    assert.throws(() => writePth(p, { u: undefined as never }), ArgumentError);
    assert.throws(
      () => writePth(p, { t: { dtype: 'float32', shape: [3], data: new Uint8Array(4) } }),
      (e: unknown) => e instanceof ShapeError && /needs 12 bytes/.test(e.message),
    );
    const cyc: PyValue[] = [];
    cyc.push(cyc);
    const deep: PyValue[] = [];
    let cur = deep;
    for (let i = 0; i < 2000; i++) {
      const next: PyValue[] = [];
      cur.push(next);
      cur = next;
    }
    assert.throws(() => writePth(p, deep), ArgumentError);
    assert.deepEqual(readdirSync(dir), []);
  });
});

test('writePth is atomic: a failed write keeps the previous file intact', () => {
  withTmp((dir) => {
    const p = join(dir, 'ckpt.pth');
    writePth(p, { epoch: 1 });
    const good = readFileSync(p);
    assert.throws(() => writePth(p, { bad: Symbol('x') as never }), ArgumentError);
    assert.deepEqual(readFileSync(p), good);
    // a failure halfway through writing: the temp file goes away, the old file stays
    assert.throws(
      () =>
        writeAtomic(p, (sink) => {
          sink.write(new Uint8Array(100));
          assert.ok(existsSync(`${p}.tmp-${process.pid}`));
          throw new Error('disk full');
        }),
      /disk full/,
    );
    assert.deepEqual(readFileSync(p), good);
    assert.deepEqual(readdirSync(dir), ['ckpt.pth']);
    assert.throws(() => writePth(join(dir, 'no/such/dir/x.pth'), { a: 1 }), CheckpointError);
    assert.equal(existsSync(join(dir, 'no')), false);
  });
});
