import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { writeAtomic } from '../../src/io/file.ts';
import {
  detectFormat,
  flattenTensors,
  type PyObject,
  PyOrderedDict,
  type PyValue,
  type RawTensor,
  readPth,
} from '../../src/io/index.ts';
import { ZipWriter } from '../../src/io/pth/zip.ts';
import { DTYPE_BYTES } from '../../src/tensor/dtype.ts';
import { describe, expected, FIX, firstValues, normalize, withTmp } from './_helpers.ts';

const TORCH_FILES = [
  'state_dict.pth',
  'checkpoint.pth',
  'legacy.pth',
  'protocol4.pth',
  'protocol5.pth',
  'dataparallel.pth',
  'torch2_style.pth',
];

for (const name of TORCH_FILES) {
  test(`torch.save ${name} reads as torch.load sees it`, () => {
    const tree = readPth(join(FIX, name));
    assert.deepEqual(describe(tree), normalize(expected.files[name]!));
    for (const [k, t] of flattenTensors(tree)) {
      assert.equal(t.data.byteOffset % DTYPE_BYTES[t.dtype], 0, `${k} is element-aligned`);
    }
  });
}

test('detectFormat tells the formats apart', () => {
  assert.equal(detectFormat(join(FIX, 'state_dict.pth')), 'pth-zip');
  assert.equal(detectFormat(join(FIX, 'legacy.pth')), 'pth-legacy');
  assert.equal(detectFormat(join(FIX, 'model.safetensors')), 'safetensors');
  assert.throws(() => detectFormat(join(FIX, 'expected.json')), /unrecognised checkpoint format/);
  assert.throws(() => detectFormat(join(FIX, 'missing.pth')), CheckpointError);
  assert.throws(() => readPth(join(FIX, 'model.safetensors')), /readSafetensors/);
  withTmp((dir) => {
    const p = join(dir, 'empty.pth');
    writeFileSync(p, '');
    assert.throws(() => detectFormat(p), /empty/);
  });
});

test('a state dict is a PyOrderedDict in file order; _metadata is an attribute, never a key', () => {
  const sd = readPth(join(FIX, 'state_dict.pth')) as PyOrderedDict;
  assert.ok(sd instanceof PyOrderedDict);
  assert.equal(sd.has('_metadata'), false);
  const md = sd.metadata as Map<string, Map<string, PyValue>>;
  assert.deepEqual([...md.keys()], ['', 'conv', 'bn', 'fc']);
  assert.equal(md.get('bn')!.get('version'), 2);
  const keys = [...sd.keys()];
  assert.deepEqual(keys.slice(0, 3), ['conv.weight', 'conv.bias', 'bn.weight']);
});

test('views, shared storages, 0-dim, empty and expanded tensors get the right bytes', () => {
  const sd = readPth(join(FIX, 'state_dict.pth')) as Map<string, RawTensor>;
  const t = sd.get('view.t')!;
  assert.deepEqual(t.shape, [4, 3]);
  assert.deepEqual(firstValues(t, 12), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  const s = sd.get('view.slice')!;
  assert.deepEqual(s.shape, [2, 2]);
  assert.deepEqual(firstValues(s), [4, 6, 8, 10]);
  const a = sd.get('shared.a')!;
  const b = sd.get('shared.b')!;
  assert.equal(a.data.buffer, b.data.buffer, 'contiguous views share their storage bytes');
  assert.equal(b.data.byteOffset - a.data.byteOffset, 24);
  assert.equal(sd.get('tied.x'), sd.get('tied.y'));
  assert.deepEqual(sd.get('extra.scalar')!.shape, []);
  assert.deepEqual(firstValues(sd.get('extra.scalar')!), [2.5]);
  assert.equal(sd.get('extra.empty')!.data.byteLength, 0);
  assert.deepEqual(firstValues(sd.get('expand')!, 6), [1.5, -2, 1.5, -2, 1.5, -2]);
  assert.deepEqual(firstValues(sd.get('extra.i64')!, 3), [-(2 ** 40), 7, 2 ** 62]);
  assert.deepEqual(firstValues(sd.get('extra.mask')!, 6), [true, false, true, true, false, false]);
});

test('a nested checkpoint: int-keyed optimizer state, nesting, Python scalars', () => {
  const ck = readPth(join(FIX, 'checkpoint.pth')) as Map<string, PyValue>;
  assert.equal(ck.get('epoch'), 3);
  const opt = ck.get('optimizer') as Map<string, PyValue>;
  const state = opt.get('state') as Map<number, Map<string, PyValue>>;
  assert.deepEqual([...state.keys()], [0, 1, 2, 3, 4, 5]);
  assert.ok(state.get(0)!.has('momentum_buffer'));
  const groups = opt.get('param_groups') as Map<string, PyValue>[];
  assert.equal(groups[0]!.get('lr'), 0.1);
  assert.deepEqual(groups[0]!.get('params'), [0, 1, 2, 3, 4, 5]);
  const adam = (ck.get('adam') as Map<string, PyValue>).get('state') as Map<number, Map<string, PyValue>>;
  assert.deepEqual([...adam.get(0)!.keys()], ['step', 'exp_avg', 'exp_avg_sq']);
  const ema = (ck.get('model') as Map<string, PyValue>).get('ema');
  assert.ok(ema instanceof PyOrderedDict);
  assert.equal(ck.get('huge'), 2n ** 70n);
  assert.equal(ck.get('neg_huge'), -(2n ** 64n) - 1n);
  assert.deepEqual(ck.get('raw'), new Uint8Array([0, 1, 255]));
  assert.ok(Object.isFrozen(ck.get('tags')));
  assert.deepEqual(ck.get('uniq'), new Set([1, 2]));
  assert.equal(ck.get('device'), 'cuda:0');
  assert.equal(ck.get('amp_dtype'), 'float16');
  assert.deepEqual(ck.get('size'), [2, 3]);
  const args = ck.get('args') as PyObject;
  assert.equal(args.className, 'argparse.Namespace');
  assert.equal(args.attributes.get('lr'), 0.1);
  const flat = flattenTensors(ck);
  assert.ok(flat.has('state_dict.conv.weight'));
  assert.ok(flat.has('optimizer.state.0.momentum_buffer'));
  assert.ok(flat.has('model.ema.fc.bias'));
});

test('DataParallel checkpoints keep their module. prefix', () => {
  const sd = readPth(join(FIX, 'dataparallel.pth')) as Map<string, PyValue>;
  assert.ok([...sd.keys()].every((k) => k.startsWith('module.')));
});

test('hostile pickles are refused, naming the global', () => {
  const cases: [string, string][] = [
    ['os_system.pth', 'posix.system'],
    ['nt_system.pth', 'nt.system'],
    ['builtins_eval.pth', 'builtins.eval'],
    ['subprocess_popen.pth', 'subprocess.Popen'],
    ['embedded.pth', 'posix.system'],
    ['legacy_os_system.pth', 'posix.system'],
  ];
  for (const [file, global] of cases) {
    assert.throws(
      () => readPth(join(FIX, 'hostile', file)),
      (e: unknown) =>
        e instanceof CheckpointError && e.message.includes(`global ${global} is not allowed`) && e.file.endsWith(file),
      file,
    );
  }
  assert.throws(() => readPth(join(FIX, 'hostile', 'deflated.pth')), /compressed \(method 8\)/);
});

test('corrupt zip entries fail their CRC check unless verification is off', () => {
  withTmp((dir) => {
    const bytes = readFileSync(join(FIX, 'state_dict.pth'));
    // flip a byte inside conv.weight's storage (archive data/0, 64-byte aligned after data.pkl)
    const name = Buffer.from('state_dict/data/0');
    const at = bytes.indexOf(name);
    const data = at + name.length;
    const extra = bytes.readUInt16LE(at - 2);
    const p = join(dir, 'bad.pth');
    const copy = Buffer.from(bytes);
    copy[data + extra + 1]! ^= 0xff;
    writeFileSync(p, copy);
    assert.throws(() => readPth(p), /CRC-32/);
    assert.doesNotThrow(() => readPth(p, { verifyCrc: false }));
  });
});

test('zip archives that are not torch.save checkpoints are refused with a reason', () => {
  const fr = readFileSync(join(FIX, 'torch2_style.pth'));
  const pkl = new Uint8Array(fr.subarray(fr.indexOf(Buffer.from([0x80, 0x02])), fr.indexOf(Buffer.from('.PK')) + 1));
  const zip = (p: string, entries: [string, string | Uint8Array][]) =>
    writeAtomic(p, (sink) => {
      const z = new ZipWriter(sink);
      for (const [name, body] of entries) z.add(name, [typeof body === 'string' ? Buffer.from(body) : body]);
      z.finish();
    });
  withTmp((dir) => {
    const p = join(dir, 'z.pth');
    const cases: [[string, string | Uint8Array][], RegExp][] = [
      [
        [
          ['m/data.pkl', pkl],
          ['m/constants.pkl', ''],
          ['m/code/m.py', 'x'],
        ],
        /TorchScript archive/,
      ],
      [[['m/other.pkl', '']], /no <archive>\/data\.pkl/],
      [
        [
          ['a/data.pkl', pkl],
          ['b/data.pkl', pkl],
        ],
        /several data\.pkl entries/,
      ],
      [[['archive/data.pkl', pkl]], /storage 0 has no entry archive\/data\/0/],
      [
        [
          ['archive/data.pkl', pkl],
          ['archive/byteorder', 'big'],
        ],
        /only little-endian/,
      ],
      [
        [
          ['archive/data.pkl', pkl],
          ['archive/version', 'x'],
        ],
        /unreadable format version/,
      ],
      [
        [
          ['archive/data.pkl', pkl],
          ['archive/data/0', new Uint8Array(3)],
        ],
        /needs 16 bytes, the entry has 3/,
      ],
    ];
    for (const [entries, pattern] of cases) {
      zip(p, entries);
      assert.throws(
        () => readPth(p),
        (e: unknown) => e instanceof CheckpointError && pattern.test(e.message),
        String(pattern),
      );
    }
    const tar = new Uint8Array(1024);
    tar.set(Buffer.from('ustar'), 257);
    writeFileSync(p, tar);
    assert.throws(() => readPth(p), /tar-format torch checkpoint/);
  });
});

test('expanded views beyond maxExpandBytes are refused', () => {
  assert.throws(() => readPth(join(FIX, 'state_dict.pth'), { maxExpandBytes: 8 }), /expands a 8-byte storage/);
});
