// Resource bounds on every read path: small hostile files that ask for deep recursion or huge
// allocations end in a CheckpointError naming the limit and how to raise it; shared structure is
// walked once; the limits can be raised by option and by environment variable.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { CheckpointError } from '../../src/errors.ts';
import {
  ALLOC_FLOOR,
  flattenTensors,
  isPyKey,
  openCheckpoint,
  type PyValue,
  plainTree,
  readPth,
  resolveLimits,
} from '../../src/io/index.ts';
import { fromPy } from '../../src/train/checkpoint.ts';
import { capture } from '../_capture.ts';
import { withTmp } from './_helpers.ts';
import {
  codecsBomb,
  deepList,
  deepTupleKey,
  dictDag,
  manyDicts,
  manyNones,
  P,
  setBomb,
  tupleDag,
  zipPth,
} from './_hostile.ts';
import { withTmpAsync } from './_plan.ts';

/** A CheckpointError that names the limit, the option and the environment variable that raise it. */
function refusedBy(limit: 'maxDepth' | 'maxAllocBytes') {
  const env = limit === 'maxDepth' ? 'GRAFT_PICKLE_MAX_DEPTH' : 'GRAFT_PICKLE_MAX_BYTES';
  return (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${String(e)}`);
    assert.match(e.message, limit === 'maxDepth' ? /nested deeper than \d+/ : /would create more than [\d.]+ MiB/);
    assert.ok(e.hint?.includes(`${limit}:`) && e.hint.includes(`${env}=`), e.hint);
    return true;
  };
}

async function withEnv<T>(name: string, value: string, fn: () => T | Promise<T>): Promise<T> {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}

/** A legacy-format file (torch.save(..., _use_new_zipfile_serialization=False)) around a main pickle. */
function legacyPth(dir: string, name: string, main: Uint8Array): string {
  const magic = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
  const bytes = P(
    [0x80, 2, 0x8a, 0x0a, ...magic, 0x2e],
    [0x80, 2, 0x4d, 0xe9, 0x03, 0x2e],
    [0x80, 2, 0x7d, 0x8c, 13],
    'little_endian',
    [0x88, 0x73, 0x2e],
    main,
    [0x80, 2, 0x5d, 0x2e],
  );
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

test('a 100,000-deep tuple key is a CheckpointError naming maxDepth on every read path', () => {
  withTmp((dir) => {
    const pkl = deepTupleKey(100_000);
    const zip = zipPth(dir, 'deep.pth', pkl);
    assert.throws(() => readPth(zip), refusedBy('maxDepth'));
    assert.throws(() => readPth(legacyPth(dir, 'legacy.pth', pkl)), refusedBy('maxDepth'));
    assert.throws(() => openCheckpoint(zip), refusedBy('maxDepth'));
    // raised by option: the key loads, and hashes without recursion
    const d = readPth(zip, { maxDepth: 200_000 }) as Map<unknown, unknown>;
    assert.equal(d.size, 1);
    assert.equal(isPyKey([...d.keys()][0]), true);
  });
});

test('graft inspect on a 5,000-deep list says which limit, and works when the limit is raised', async () => {
  await withTmpAsync(async (dir) => {
    const file = zipPth(dir, 'deep_list.pth', deepList(5000));
    const refused = await capture(() => main(['inspect', file]));
    assert.equal(refused.code, 1);
    assert.match(refused.err, /containers nested deeper than 1000 .*GRAFT_PICKLE_MAX_DEPTH=/s);
    const shown = await withEnv('GRAFT_PICKLE_MAX_DEPTH', '6000', () => capture(() => main(['inspect', file])));
    assert.equal(shown.code, 0, shown.err);
    const json = await withEnv('GRAFT_PICKLE_MAX_DEPTH', '6000', () =>
      capture(() => main(['inspect', file, '--json'])),
    );
    assert.equal(JSON.parse(json.out).containers.length, 5000);
  });
});

test('shared structure (a 40-level DAG, 2^40 paths) is read, converted and walked once', () => {
  withTmp((dir) => {
    const file = zipPth(dir, 'dag.pth', dictDag(40));
    const raw = readPth(file);
    const tree = fromPy(raw); // train.readCheckpoint's conversion
    assert.equal(tree.a, tree.b, 'a shared dict stays one object');
    let node = tree;
    for (let i = 0; i < 40; i++) node = node.a;
    assert.deepEqual(node, {});
    assert.equal(flattenTensors(raw as PyValue).size, 0);
    assert.doesNotThrow(() => openCheckpoint(file));
    // a tuple DAG as a dict key: hashability is checked once per tuple, not per path
    const key = readPth(zipPth(dir, 'key.pth', P(0x80, 2, 0x7d, 0x29, tupleDag(40).subarray(3, -1), 0x4e, 0x73, 0x2e)));
    assert.equal((key as Map<unknown, unknown>).size, 1);
    assert.equal(isPyKey([...(key as Map<unknown, unknown>).keys()][0]), true);
  });
});

test('_codecs.encode on one memoized string, again and again, is refused before it allocates', () => {
  withTmp((dir) => {
    // a 2 MB file that would allocate 400 MB at default limits
    assert.throws(() => readPth(zipPth(dir, 'codecs.pth', codecsBomb(2_000_000, 200))), refusedBy('maxAllocBytes'));
    const small = zipPth(dir, 'codecs_small.pth', codecsBomb(1000, 10));
    assert.doesNotThrow(() => readPth(small));
    assert.throws(() => readPth(small, { maxAllocBytes: 5000 }), refusedBy('maxAllocBytes'));
  });
});

test('builtins.set on one memoized list counts every copy; GRAFT_PICKLE_MAX_BYTES sets the budget', async () => {
  await withTmpAsync(async (dir) => {
    const file = zipPth(dir, 'set.pth', setBomb(10_000, 100)); // 32 MB of sets from 60 KB
    assert.doesNotThrow(() => readPth(file));
    await withEnv('GRAFT_PICKLE_MAX_BYTES', '4M', () => {
      assert.throws(() => readPth(file), refusedBy('maxAllocBytes'));
      assert.throws(() => readPth(file), /limit set by GRAFT_PICKLE_MAX_BYTES/);
      assert.doesNotThrow(() => readPth(file, { maxAllocBytes: 64 * 2 ** 20 }), 'the option wins over the env');
    });
  });
});

test('containers cost what they take: many empty dicts are refused, a long list of Nones loads', () => {
  withTmp((dir) => {
    assert.throws(
      () => readPth(zipPth(dir, 'dicts.pth', manyDicts(100_000)), { maxAllocBytes: 8 * 2 ** 20 }),
      refusedBy('maxAllocBytes'),
    );
    const list = readPth(zipPth(dir, 'nones.pth', manyNones(1_000_000))) as unknown[];
    assert.equal(list.length, 1_000_000);
  });
});

test('the budget is proportional to the pickle, with a floor; the depth limit is 1000 by default', () => {
  assert.equal(resolveLimits(1000).maxAllocBytes, ALLOC_FLOOR);
  assert.equal(resolveLimits(100 * 2 ** 20).maxAllocBytes, 1600 * 2 ** 20);
  assert.equal(resolveLimits(0).maxDepth, 1000);
  assert.equal(resolveLimits(0, { maxDepth: 5 }).maxDepth, 5);
  assert.throws(() => resolveLimits(0, { maxDepth: -1 }), /maxDepth must be a positive number/);
});

test('plainTree: iterative, depth-limited, and a __proto__ key is data', () => {
  let deep: unknown = [];
  for (let i = 0; i < 50_000; i++) deep = [deep];
  assert.throws(() => plainTree(deep), refusedBy('maxDepth'));
  assert.doesNotThrow(() => plainTree(deep, { maxDepth: 60_000 }));
  const polluted = plainTree(new Map([['__proto__', new Map([['admin', true]])]]));
  assert.equal(Object.getPrototypeOf(polluted), Object.prototype);
  assert.deepEqual(Object.keys(polluted), ['__proto__']);
  assert.equal(({} as Record<string, unknown>).admin, undefined);
});
