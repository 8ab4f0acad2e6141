import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { ALLOWED_GLOBALS, PyOrderedDict } from '../../src/io/index.ts';
import { unpickle } from '../../src/io/pth/pickle.ts';
import { Pickler } from '../../src/io/pth/pickle_write.ts';
import { checkTree, type LoadContext, TensorBuilder } from '../../src/io/pth/storage.ts';

/** Pickle bytes from opcodes: numbers are bytes, strings are latin1 text. */
function P(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const ch of p) out.push(ch.charCodeAt(0));
  }
  return new Uint8Array(out);
}

const str = (s: string) => P(0x58, s.length, 0, 0, 0, s);

function load(bytes: Uint8Array): unknown {
  const fail = (r: string, h?: string): never => {
    throw new CheckpointError('test.pkl', r, h);
  };
  const tb = new TensorBuilder(fail);
  const ctx: LoadContext = { fail, rebuildTensor: (s, o, sz, st, f) => tb.rebuild(s, o, sz, st, f) };
  const { value } = unpickle(bytes, 0, { file: 'test.pkl', where: 'data.pkl', ctx });
  tb.resolve();
  return checkTree(value, 'test.pkl', { maxDepth: 1000 });
}

function refuses(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => load(bytes),
    (e: unknown) => e instanceof CheckpointError && pattern.test(e.message) && e.file === 'test.pkl',
    pattern.source,
  );
}

const cat = (...parts: Uint8Array[]) => new Uint8Array(parts.flatMap((p) => [...p]));

test('code-execution globals are refused by name, whatever opcode names them', () => {
  for (const g of [
    'posix\nsystem',
    'os\nsystem',
    'nt\nsystem',
    'builtins\neval',
    'builtins\nexec',
    '__builtin__\neval',
    'subprocess\nPopen',
    'subprocess\ncheck_output',
    'builtins\ngetattr',
    'torch.storage\n_load_from_bytes',
    'numpy.core.multiarray\nscalar',
    'torch\nload',
    'collections\nnamedtuple',
  ]) {
    const [m, n] = g.split('\n');
    const name = `${m === '__builtin__' ? 'builtins' : m}.${n}`;
    refuses(P(0x80, 2, 'c', g, '\n', 0x29, 'R.'), new RegExp(`global ${name.replace(/\./g, '\\.')} is not allowed`));
    // protocol 4 STACK_GLOBAL
    const sg = cat(P(0x80, 4, 0x8c, m!.length, m!, 0x8c, n!.length, n!, 0x93), P(0x29, 'R.'));
    refuses(sg, /is not allowed/);
  }
  assert.ok(ALLOWED_GLOBALS.includes('torch._utils._rebuild_tensor_v2'));
  assert.ok(!ALLOWED_GLOBALS.some((g) => /system|eval|exec|subprocess|getattr/.test(g)));
});

test('allowlisted classes are only used as their TS implementations allow', () => {
  // a storage class called directly, a dtype called, OrderedDict with odd arguments
  refuses(P(0x80, 2, 'ctorch\nFloatStorage\n', 0x29, 'R.'), /REDUCE on torch\.FloatStorage/);
  refuses(P(0x80, 2, 'ctorch\nfloat32\n', 0x29, 'R.'), /REDUCE on a string/);
  refuses(cat(P(0x80, 2, 'ccollections\nOrderedDict\n'), str('x'), P(0x85, 'R.')), /OrderedDict called/);
  refuses(P(0x80, 2, 'cargparse\nNamespace\n', 0x29, 'R.'), /REDUCE on argparse\.Namespace/);
  refuses(P(0x80, 2, 'ccollections\nOrderedDict\n', 0x29, 0x81, '.'), /NEWOBJ on collections\.OrderedDict/);
  // BUILD only on OrderedDict / Namespace
  refuses(P(0x80, 2, ']', '}', 'b.'), /BUILD on a list/);
  // a bare class left in the result
  refuses(P(0x80, 2, 'ctorch\nTensor\n.'), /unsupported value in the result: GlobalRef/);
  // a tensor rebuild from something that is not a storage
  refuses(P(0x80, 2, 'ctorch._utils\n_rebuild_tensor\n(K', 1, 'K', 0, '))tR.'), /not a storage/);
  // persistent ids outside a checkpoint
  refuses(cat(P(0x80, 2), str('storage'), P(0x85, 'Q.')), /persistent id outside/);
});

test('malformed pickles are CheckpointErrors naming the reason', () => {
  refuses(P(0x80, 2, '0.'), /no MARK/);
  refuses(P(0x80, 2, 's.'), /stack underflow/);
  refuses(P(0x80, 2, 'R.'), /stack underflow/);
  refuses(P(0x80, 2, 't.'), /no MARK/);
  refuses(P(0x80, 2, 'h', 5, '.'), /memo entry 5 was never stored/);
  refuses(P(0x80, 2, 'j', 1, 2, 3, 4, '.'), /memo entry/);
  refuses(P(0x80, 2, 'q', 0, '.'), /stack underflow/);
  refuses(P(0x80, 2, 'N'), /no STOP/);
  refuses(P(0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'abc.'), /truncated/);
  refuses(P(0x80, 2, 'J', 1, 2), /truncated/);
  refuses(P(0x80, 2, 'cposix'), /unterminated line/);
  refuses(P(0x80, 9, 'N.'), /unsupported pickle protocol/);
  refuses(P(0x80, 2, 0xff, '.'), /unsupported pickle opcode 0xff/);
  refuses(P(0x80, 2, 'S', "'x'\n", '.'), /opcode 0x53 \(STRING\)/);
  refuses(P(0x80, 2, 'X', 2, 0, 0, 0, 0xc3, 0x28, '.'), /invalid UTF-8/);
  refuses(P(0x80, 2, 0x8b, 0xff, 0xff, 0, 0, '.'), /integer of 65535 bytes/);
  refuses(P(0x80, 2, '}]Ns.'), /not hashable/);
  refuses(P(0x80, 2, ')N', 'a.'), /APPEND on a tuple/);
  refuses(P(0x80, 2, 'N(K', 1, 'u.'), /odd number|SETITEM on None/);
  refuses(P(0x80, 2, 'Ifoo\n.'), /invalid integer literal/);
});

test('cyclic and absurdly deep structures are refused', () => {
  // L = []; L.append(L)
  refuses(P(0x80, 2, ']q', 0, 'h', 0, 'a.'), /cyclic/);
  const deep = [0x80, 2];
  for (let i = 0; i < 5000; i++) deep.push(0x5d); // EMPTY_LIST
  for (let i = 0; i < 4999; i++) deep.push(0x61); // APPEND
  deep.push(0x2e);
  refuses(new Uint8Array(deep), /nested deeper than 1000/);
  // a wide but shallow DAG stays linear: 2^40 paths, 40 nodes
  const dag = [0x80, 2, 0x4e];
  for (let i = 0; i < 40; i++) dag.push(0x32, 0x86); // DUP TUPLE2
  dag.push(0x2e);
  assert.ok(Array.isArray(load(new Uint8Array(dag))));
});

test('Python values decode as documented', () => {
  const v = load(
    cat(
      P(0x80, 2, '(', 'N', 0x88, 0x89, 'K', 200, 'M', 0x34, 0x12, 'J', 0xff, 0xff, 0xff, 0xff),
      P(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1), // 2^64
      P(0x8a, 1, 0x80), // -128
      P('G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0), // 1.5
      P('I01\n', 'L123L\n', 'F-inf\n'),
      P('C', 2, 0xde, 0xad), // bytes
      P(0x8c, 2, 'hi', 0x8f, '(K', 1, 'K', 2, 0x90), // 'hi', {1, 2}
      P('(K', 1, 'K', 2, 'l', ')'), // [1, 2], ()
      P('l.'),
    ),
  );
  assert.deepEqual(v, [
    null,
    true,
    false,
    200,
    0x1234,
    -1,
    2n ** 64n,
    -128,
    1.5,
    true,
    123,
    -Infinity,
    new Uint8Array([0xde, 0xad]),
    'hi',
    new Set([1, 2]),
    [1, 2],
    [],
  ]);
  assert.ok(Object.isFrozen((v as unknown[])[16]));
});

test('OrderedDict state from BUILD becomes attributes, not keys', () => {
  const pkl = cat(
    P(0x80, 2, 'ccollections\nOrderedDict\n', 0x29, 'R('),
    str('a'),
    P('K', 1, 'u}'),
    str('_metadata'),
    P('}sb.'),
  );
  const d = load(pkl) as PyOrderedDict;
  assert.ok(d instanceof PyOrderedDict);
  assert.deepEqual([...d.keys()], ['a']);
  assert.deepEqual(d.metadata, new Map());
});

test('the pickler writes what the unpickler reads back', () => {
  const value = new Map<unknown, unknown>([
    ['ints', [0, 255, 256, 65535, 65536, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53) + 1]],
    ['big', [2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n, 2n ** 100n]],
    ['floats', [0.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 1e-300]],
    [7, Object.freeze(['t', 1, Object.freeze([])])],
    [Object.freeze([1, 2]), 'tuple key'],
    ['long list', Array.from({ length: 2500 }, (_, i) => i)],
  ]);
  const bytes = new Pickler(() => {
    throw new Error('no tensors here');
  }).dump(value as never);
  const back = load(bytes) as Map<unknown, unknown>;
  assert.deepEqual([...back.keys()].slice(0, 4), ['ints', 'big', 'floats', 7]);
  assert.deepEqual(back.get('ints'), value.get('ints'));
  assert.deepEqual(back.get('big'), value.get('big'));
  assert.deepEqual(back.get('floats'), value.get('floats'));
  assert.deepEqual(back.get(7), value.get(7));
  assert.deepEqual(back.get('long list'), value.get('long list'));
});
