// TensorBoard event files: CRC32C against RFC 3720's vectors, graft's bytes against a reference
// file written in Python from TensorBoard's .proto files and PyTorch's summary functions
// (scripts/fixtures/tensorboard_events.py), graft's file as that script decoded it, the reader of
// _reader.ts (no code shared with the writer), the histogram layout and the flush policy.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import {
  crc32c,
  DEFAULT_EDGES,
  EventFileWriter,
  frameRecord,
  histogramOf,
  maskedCrc32c,
  scalarValue,
  TensorBoardLogger,
  TrackingCallback,
} from '../../src/track/index.ts';
import { EXACT, HPARAMS, T0, writeReference } from './_events.ts';
import { type Decoded, eventFiles, readEvents, scalarsOf, tfrecords } from './_reader.ts';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'track');
const tmp = () => mkdtempSync(join(tmpdir(), 'graft-track-'));

test('CRC32C: RFC 3720 B.4 vectors, the check value, the masked CRC of a TFRecord length', () => {
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // the first record of every event file is 24 bytes long: its length field's masked CRC as
  // TensorFlow's writer stores it (the Python-written reference file's bytes 8..11)
  const ref = readFileSync(join(FIX, 'reference.tfevents'));
  assert.equal(Number(ref.readBigUInt64LE(0)), 24);
  assert.equal(maskedCrc32c(ref.subarray(0, 8)), ref.readUInt32LE(8));
  assert.equal(maskedCrc32c(ref.subarray(0, 8)), 0x224b7fa3);
});

test('TFRecord framing: length, masked CRCs, data', () => {
  const data = Buffer.from('hello');
  const rec = frameRecord(data);
  assert.equal(rec.length, 16 + 5);
  assert.equal(rec.readBigUInt64LE(0), 5n);
  assert.deepEqual(tfrecords(rec), [data]);
  rec[13]! ^= 1;
  assert.throws(() => tfrecords(rec), /bad data CRC/);
});

test("graft's event file is byte for byte the reference written in Python from TensorBoard's protos", () => {
  const dir = tmp();
  try {
    const path = writeReference(dir);
    const ref = readFileSync(join(FIX, 'reference.tfevents'));
    const mine = readFileSync(path);
    assert.equal(mine.length, ref.length);
    assert.ok(mine.equals(ref), 'the bytes differ');
    // TensorBoard's file name: events.out.tfevents.<10-digit seconds>.<host>.<pid>.<n>
    const name = basename(path);
    const m = /^events\.out\.tfevents\.(\d{10})\.(.+)\.(\d+)\.(\d+)$/.exec(name);
    assert.ok(m, name);
    assert.equal(Number(m[1]), Math.floor(T0));
    assert.equal(m[2], hostname());
    assert.equal(Number(m[3]), process.pid);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("graft's fixture file as TensorBoard's Python classes decoded it (graft.json)", () => {
  const dir = tmp();
  try {
    // the committed graft.tfevents is what the writer makes today
    const random = new Float32Array(new Uint8Array(readFileSync(join(FIX, 'values.f32'))).buffer);
    const path = writeReference(dir, random);
    assert.ok(readFileSync(path).equals(readFileSync(join(FIX, 'graft.tfevents'))), 'regenerate the fixtures');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const { events } = JSON.parse(readFileSync(join(FIX, 'graft.json'), 'utf8')) as { events: Decoded[] };
  assert.equal(events[0].file_version, 'brain.Event:2');
  assert.equal(events[0].wall_time, T0);
  const start = events[1].summary.value[0];
  assert.equal(start.tag, '_hparams_/session_start_info');
  assert.deepEqual(start.hparams.session_start_info.hparams, {
    'data.batchSize': 32,
    'model.name': 'resnet18',
    'optimizer.lr': 0.001,
    pretrained: true,
  });
  assert.equal(start.hparams.session_start_info.start_time_secs, T0);
  assert.deepEqual(
    events[2].summary.value.map((v: Decoded) => [v.tag, v.simple_value]),
    [
      ['train/loss_step', '0.75'],
      ['lr/head', String(Math.fround(0.1))],
      ['momentum/head', String(Math.fround(0.9))],
    ],
  );
  assert.equal(events[2].step, '1'); // int64 in protobuf's JSON
  assert.equal(events[3].summary.value[1].simple_value, 'nan');
  const exact = events[5].summary.value[0];
  assert.equal(exact.tag, 'weights/fc.weight');
  assert.deepEqual(
    [exact.histo.min, exact.histo.max, exact.histo.num, exact.histo.sum, exact.histo.sum_squares],
    [-2, 1000, 8, 1002, 1000014.375],
  );
  const random = events[6].summary.value[0];
  assert.equal(random.tag, 'grads/random');
  assert.deepEqual(random.histogram_matches, {
    bucket: true,
    bucket_limit: true,
    min_max_num_sum: true,
    sum_squares_rel_err: random.histogram_matches.sum_squares_rel_err,
  });
  assert.ok(random.histogram_matches.sum_squares_rel_err < 1e-12);
  assert.equal(events[7].summary.value[0].hparams.session_end_info.status, 'STATUS_SUCCESS');
});

test("TensorBoard's own readers on graft's file: EventAccumulator and the HPARAMS tab's backend", () => {
  // scripts/fixtures/tensorboard_reader.py ran TensorBoard's Python sources over graft.tfevents
  // (the test above keeps that file equal to what the writer makes today)
  const tb = JSON.parse(readFileSync(join(FIX, 'tensorboard_reader.json'), 'utf8'));
  assert.deepEqual(tb.scalars, {
    'eval/accuracy': [[2, 0.5]],
    'eval/loss': [[2, null]],
    'lr/head': [[1, Math.fround(0.1)]],
    'momentum/head': [[1, Math.fround(0.9)]],
    'train/loss_step': [[1, 0.75]],
    zero: [[0, 0]],
  });
  assert.deepEqual(tb.histograms['weights/fc.weight'], [{ step: 3, num: 8, min: -2, max: 1000, buckets: 664 }]);
  assert.equal(tb.histograms['grads/random'][0].num, 2000);
  const [group] = tb.session_groups;
  assert.deepEqual(group.hparams, HPARAMS);
  assert.equal(group.sessions[0].status, 'STATUS_SUCCESS');
  assert.equal(group.sessions[0].start_time_secs, T0);
  assert.deepEqual(group.sessions[0].metrics['train/loss_step'], [1, 0.75]);
  assert.deepEqual(
    tb.experiment.hparam_infos.map((h: Decoded) => [h.name, h.type]),
    [
      ['data.batchSize', 'DATA_TYPE_FLOAT64'],
      ['model.name', 'DATA_TYPE_STRING'],
      ['optimizer.lr', 'DATA_TYPE_FLOAT64'],
      ['pretrained', 'DATA_TYPE_BOOL'],
    ],
  );
});

test('the independent reader decodes what the logger wrote: scalars, histograms, hparams', () => {
  const dir = tmp();
  try {
    const path = writeReference(dir);
    const events = readEvents(path);
    assert.equal(events.length, 7);
    assert.equal(events[0].fileVersion, 'brain.Event:2');
    const s = scalarsOf(events);
    assert.deepEqual(s.get('train/loss_step'), [[1, 0.75]]);
    assert.deepEqual(s.get('lr/head'), [[1, Math.fround(0.1)]]);
    assert.deepEqual(s.get('zero'), [[0, 0]]);
    assert.ok(Number.isNaN(s.get('eval/loss')![0]![1]));
    const h = events[5].summary.value[0].histo;
    assert.equal(h.num, EXACT.length);
    assert.equal(
      h.bucket.reduce((a: number, b: number) => a + b, 0),
      EXACT.length,
    );
    const start = events[1].summary.value[0].hparams.sessionStartInfo.hparams;
    assert.deepEqual(start.pretrained, { boolValue: true, kind: 'boolValue' });
    assert.deepEqual(start['model.name'], { stringValue: HPARAMS['model.name'], kind: 'stringValue' });
    assert.equal(events[6].summary.value[0].hparams.sessionEndInfo.status, 'STATUS_SUCCESS');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("histograms: TensorBoard's default edges, np.histogram's buckets, the trimmed span", () => {
  // 1e-12 * 1.1^k below 1e20 on both sides of 0
  assert.equal(DEFAULT_EDGES.length % 2, 1);
  const mid = (DEFAULT_EDGES.length - 1) / 2;
  assert.equal(DEFAULT_EDGES[mid], 0);
  assert.equal(DEFAULT_EDGES[mid + 1], 1e-12);
  assert.equal(DEFAULT_EDGES[mid + 2], 1e-12 * 1.1);
  assert.ok(DEFAULT_EDGES.at(-1)! < 1e20 && DEFAULT_EDGES.at(-1)! * 1.1 >= 1e20);
  // one value: the bucket holding it and an empty one on its left; right edges only
  const one = histogramOf([1])!;
  const k = DEFAULT_EDGES.findIndex((e) => e > 1) - 1; // 1 lies in [edges[k], edges[k+1])
  assert.deepEqual(one.bucket, [0, 1]);
  assert.deepEqual(one.bucketLimit, [DEFAULT_EDGES[k], DEFAULT_EDGES[k + 1]]);
  // an edge value falls in the bucket it opens
  const e = DEFAULT_EDGES[mid + 10]!;
  const atEdge = histogramOf([e])!;
  assert.equal(atEdge.bucketLimit[1], DEFAULT_EDGES[mid + 11]);
  // non-finite values are left out; nothing finite: no histogram
  assert.equal(histogramOf([Number.NaN, Number.POSITIVE_INFINITY]), undefined);
  assert.equal(histogramOf([]), undefined);
  assert.equal(histogramOf([2, Number.NaN])!.num, 1);
});

/** The next double above (dir 1) or below (dir -1) x, for x != 0. */
function nextDouble(x: number, dir: 1 | -1): number {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, x);
  const bits = b.getBigInt64(0);
  b.setBigInt64(0, bits + BigInt((x > 0 ? 1 : -1) * dir));
  return b.getFloat64(0);
}

test('histograms: every edge and its neighbouring doubles land in the bucket a plain search finds', () => {
  const edges = DEFAULT_EDGES;
  const last = edges.length - 1;
  // np.histogram: [edges[i], edges[i+1]), the last bucket closed; outside the edges: not counted
  const rightEdge = (v: number): number | undefined => {
    if (v < edges[0]! || v > edges[last]!) return undefined;
    if (v === edges[last]) return edges[last];
    let i = 0;
    while (edges[i + 1]! <= v) i++;
    return edges[i + 1];
  };
  let checked = 0;
  for (const e of edges)
    for (const v of e === 0 ? [0, 5e-324, -5e-324] : [e, nextDouble(e, 1), nextDouble(e, -1)]) {
      assert.equal(histogramOf([v])?.bucketLimit[1], rightEdge(v), `value ${v}`);
      checked++;
    }
  assert.equal(checked, 3 * edges.length);
});

test('flush policy: the file_version record at once, then every maxQueue events or flushSecs', () => {
  const dir = tmp();
  try {
    let clock = 1000;
    const w = new EventFileWriter(dir, { maxQueue: 3, flushSecs: 60, now: () => clock });
    const size = () => statSync(w.path).size;
    const first = size();
    assert.equal(first, 16 + 24); // the 24-byte file_version event, framed
    w.addSummary([scalarValue('a', 1)], 1);
    w.addSummary([scalarValue('a', 2)], 2);
    assert.equal(size(), first, 'two events wait in the queue');
    w.addSummary([scalarValue('a', 3)], 3);
    const three = size();
    assert.ok(three > first, 'the third event flushes the queue');
    w.addSummary([scalarValue('a', 4)], 4);
    assert.equal(size(), three);
    clock += 61;
    w.addSummary([scalarValue('a', 5)], 5);
    assert.ok(size() > three, 'flushSecs passed: written');
    w.addSummary([scalarValue('a', 6)], 6);
    w.close();
    assert.deepEqual(
      scalarsOf(readEvents(w.path)).get('a'),
      [1, 2, 3, 4, 5, 6].map((v) => [v, v]),
    );
    assert.throws(() => w.addSummary([scalarValue('a', 7)], 7), /closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the logger starts its file at the first record, removes old event files when asked, one file per logger', () => {
  const dir = tmp();
  try {
    const a = new TensorBoardLogger({ dir });
    assert.equal(a.path, undefined);
    assert.deepEqual(eventFiles(dir), []);
    a.logScalars(5, { x: 1 });
    a.close();
    const b = new TensorBoardLogger({ dir });
    b.logScalars(6, { x: 2 });
    b.close();
    assert.equal(eventFiles(dir).length, 2);
    assert.notEqual(a.path, b.path);
    const c = new TensorBoardLogger({ dir, clean: true });
    c.logScalars(7, { x: 3 });
    c.close('failure');
    assert.deepEqual(eventFiles(dir), [c.path]);
    // no hyper-parameters logged: no session end either
    assert.deepEqual(
      readEvents(c.path!).map((e) => e.summary?.value?.[0]?.tag ?? e.fileVersion),
      ['brain.Event:2', 'x'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rewind: a SessionLog START at the step after the checkpoint, so TensorBoard drops the orphans', () => {
  const dir = tmp();
  try {
    const first = new TensorBoardLogger({ dir });
    for (const step of [1, 2, 3, 4, 5]) first.logScalars(step, { loss: step });
    first.close('failure');
    const again = new TensorBoardLogger({ dir });
    again.rewind(3);
    for (const step of [4, 5, 6]) again.logScalars(step, { loss: step * 10 });
    again.close();
    const events = eventFiles(dir).flatMap(readEvents);
    const start = events.find((e) => e.sessionLog);
    assert.deepEqual([start.step, start.sessionLog.status], [4, 'START']);
    assert.deepEqual(scalarsOf(events).get('loss'), [
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 40],
      [5, 50],
      [6, 60],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a folder that cannot be written is a WriteError naming it; bad settings are ArgumentErrors', () => {
  const dir = tmp();
  try {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const log = new TensorBoardLogger({ dir: join(file, 'sub') });
    assert.throws(
      () => log.logScalars(1, { x: 1 }),
      (e: Error & { code?: string }) => e.name === 'WriteError' && e.code === 'GRAFT_WRITE' && e.message.includes(file),
    );
    assert.throws(() => new EventFileWriter(dir, { maxQueue: 0 }), /maxQueue must be an integer >= 1/);
    assert.throws(() => new TrackingCallback({ loggers: [], histograms: { every: 0 } }), /histograms.every/);
    assert.throws(() => new TrackingCallback({ loggers: [], logEvery: 1.5 }), /logEvery/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
