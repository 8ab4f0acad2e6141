// The load report (lists, counts, text table, JSON), previews from headers, and the pieces a plan
// is made of (key patterns, rename rules, prefix suggestions), without a model where possible.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import {
  type CheckpointEntry,
  globToRegExp,
  keyMatcher,
  type ModelSlot,
  planLoad,
  previewLoad,
  renameRules,
  stripPrefix,
  suggestRename,
} from '../../src/io/index.ts';
import { compileRename } from '../../src/io/plan/match.ts';
import * as models from '../../src/models/index.ts';
import { RESNET_DP, values } from './_plan.ts';

const ctx = {
  file: 'ck.pth',
  format: 'pth-zip' as const,
  subDict: { path: 'state_dict', auto: true, alternatives: ['optimizer'] },
  notes: [],
};
const slot = (key: string, shape: number[], o: Partial<ModelSlot> = {}): ModelSlot => ({
  key,
  shape,
  dtype: 'float32',
  parameter: true,
  hasDefault: false,
  ...o,
});
const entry = (key: string, shape: number[], dtype: CheckpointEntry['dtype'] = 'float32'): CheckpointEntry => ({
  key,
  shape,
  dtype,
});

const SLOTS = [
  slot('conv.weight', [8, 3, 3, 3]),
  slot('bn.running_mean', [8], { parameter: false }),
  slot('bn.num_batches_tracked', [], { parameter: false, dtype: 'int64', hasDefault: true }),
  slot('fc.weight', [4, 8]),
  slot('fc.bias', [4]),
  slot('head.weight', [2, 4]),
];
const ENTRIES = [
  entry('module.conv.weight', [8, 3, 3, 3], 'float16'),
  entry('module.bn.running_mean', [8]),
  entry('module.fc.weight', [10, 8]),
  entry('module.fc.bias', [10]),
  entry('module.extra', [3]),
  entry('aux.weight', [1]),
];

test('the report: every category, counts, parameter totals', () => {
  const r = planLoad(ENTRIES, SLOTS, { rename: stripPrefix('module.'), exclude: 'aux', onShapeMismatch: 'skip' }, ctx);
  assert.ok(r.ok);
  assert.deepEqual(r.loaded, ['conv.weight', 'bn.running_mean']);
  assert.deepEqual(r.renamed.slice(0, 2), [
    { from: 'module.conv.weight', to: 'conv.weight' },
    { from: 'module.bn.running_mean', to: 'bn.running_mean' },
  ]);
  assert.deepEqual(r.skippedShape, [
    { key: 'fc.weight', from: 'module.fc.weight', checkpoint: [10, 8], model: [4, 8] },
    { key: 'fc.bias', from: 'module.fc.bias', checkpoint: [10], model: [4] },
  ]);
  assert.deepEqual(r.excluded, [{ key: 'aux.weight', from: 'aux.weight', by: "exclude 'aux'" }]);
  assert.deepEqual(r.missing, ['head.weight']);
  assert.deepEqual(r.defaulted, ['bn.num_batches_tracked']);
  assert.deepEqual(r.unexpected, ['extra']);
  assert.deepEqual(r.cast, [{ key: 'conv.weight', from: 'float16', to: 'float32' }]);
  assert.deepEqual(r.counts, {
    checkpoint: 6,
    model: 6,
    loaded: 2,
    renamed: 5,
    skippedShape: 2,
    mismatched: 0,
    excluded: 1,
    missing: 1,
    defaulted: 1,
    unexpected: 1,
    cast: 1,
    tied: 0,
  });
  assert.deepEqual(r.parameters, { total: 216 + 32 + 4 + 8, loaded: 216, new: 44 });
  assert.deepEqual(r.skipped, [
    { key: 'fc.weight', reason: 'shape' },
    { key: 'fc.bias', reason: 'shape' },
    { key: 'aux.weight', reason: "exclude 'aux'" },
  ]);
});

test('the text table: header, one aligned row per key, summary', () => {
  const r = planLoad(ENTRIES, SLOTS, { rename: stripPrefix('module.'), exclude: 'aux', onShapeMismatch: 'skip' }, ctx);
  const text = r.table();
  const lines = text.split('\n');
  assert.deepEqual(lines.slice(0, 3), [
    'checkpoint  ck.pth (PyTorch checkpoint (zip))',
    "sub-dict    'state_dict' (auto); also holding tensors: optimizer",
    "plan        rename stripPrefix 'module.'; exclude 'aux'; onShapeMismatch 'skip'",
  ]);
  const head = lines.findIndex((l) => l.startsWith('status'));
  const rows = lines.slice(head, head + 9);
  assert.deepEqual(
    rows.map((l) => l.split(/\s{2,}/)),
    [
      ['status', 'model key', 'checkpoint key', 'shape (checkpoint -> model)', 'dtype'],
      ['loaded', 'conv.weight', 'module.conv.weight', '[8, 3, 3, 3]', 'float16 -> float32'],
      ['loaded', 'bn.running_mean', 'module.bn.running_mean', '[8]', 'float32'],
      ['default', 'bn.num_batches_tracked', '-', '[]', 'int64'],
      ['skip:shape', 'fc.weight', 'module.fc.weight', '[10, 8] -> [4, 8]', 'float32'],
      ['skip:shape', 'fc.bias', 'module.fc.bias', '[10] -> [4]', 'float32'],
      ['new', 'head.weight', '-', '[2, 4]', 'float32'],
      ['unexpected', 'extra', 'module.extra', '[3]', 'float32'],
      ['excluded', 'aux.weight', '=', '[1]', 'float32', "exclude 'aux'"],
    ],
  );
  // columns line up: the checkpoint key column starts at the same offset on every row
  const col = rows[0]!.indexOf('checkpoint key');
  for (const l of rows.slice(1)) assert.match(l.slice(col - 2, col + 1), /^ {2}\S/, l);
  assert.deepEqual(lines.slice(-2), [
    'loaded 2 of 6 model keys, 216 of 260 parameters; 44 parameters left as initialised',
    'renamed 5, skipped for shape 2, excluded 1, new (not in checkpoint) 1, unexpected 1, cast 1, defaulted 1',
  ]);
  const brief = r.table({ loaded: false });
  assert.ok(!brief.includes('conv.weight') && brief.includes('(3 loaded or defaulted keys not shown)'));
  assert.equal(String(r), text);
});

test('JSON: the lists, counts, sub-dict and error', () => {
  const r = planLoad(ENTRIES, SLOTS, { rename: stripPrefix('module.') }, ctx);
  const j = JSON.parse(JSON.stringify(r));
  assert.equal(j.ok, false);
  assert.match(
    j.error,
    /^ck\.pth: size mismatch for fc\.weight \(checkpoint key module\.fc\.weight\): checkpoint \[10, 8\], model \[4, 8\]/,
  );
  assert.deepEqual(j.mismatched[1], { key: 'fc.bias', from: 'module.fc.bias', checkpoint: [10], model: [4] });
  assert.deepEqual(j.subDict, ctx.subDict);
  for (const k of [
    'loaded',
    'renamed',
    'skippedShape',
    'excluded',
    'missing',
    'unexpected',
    'cast',
    'counts',
    'parameters',
  ])
    assert.ok(k in j, k);
  assert.ok(r.table().includes('MISMATCH    fc.weight'));
  assert.ok(r.table().endsWith(`error: ${r.error!.message}`));
  assert.throws(() => r.check(), /size mismatch/);
});

test('suggestions: stripPrefix, addPrefix, replacePrefix, or none', () => {
  assert.deepEqual(suggestRename(['module.a.w', 'module.b.w'], ['a.w', 'b.w']), {
    text: "rename: [stripPrefix('module.')]",
    count: 2,
  });
  assert.deepEqual(
    suggestRename(['a.w', 'b.w', 'c'], ['backbone.a.w', 'backbone.b.w', 'head.w'])?.text,
    "rename: [addPrefix('backbone.')]",
  );
  assert.deepEqual(
    suggestRename(['encoder.l.w', 'encoder.l.b'], ['backbone.l.w', 'backbone.l.b'])?.text,
    "rename: [replacePrefix('encoder.', 'backbone.')]",
  );
  assert.equal(suggestRename(['x'], ['y']), null);
  assert.equal(suggestRename([], ['y']), null);
});

test('key patterns: fnmatch globs, module paths on dot boundaries, RegExps', () => {
  assert.ok(globToRegExp('layer*.bn?.weight').test('layer1.0.bn1.weight'));
  assert.ok(keyMatcher('*fc*')('backbone.fc.weight'));
  assert.ok(keyMatcher('fc')('fc.weight') && !keyMatcher('fc')('fc2.weight'));
  assert.ok(keyMatcher('fc.weight')('fc.weight'));
  assert.ok(keyMatcher('[!b]*')('conv.weight') && !keyMatcher('[!b]*')('bn.weight'));
  const re = /bias$/g;
  assert.ok(keyMatcher(re)('fc.bias') && keyMatcher(re)('fc.bias'));
  assert.throws(() => keyMatcher(''), ArgumentError);
});

test('rename rules: each form, what they do where the prefix is absent, a lone pair', () => {
  const apply = (r: Parameters<typeof compileRename>[0], k: string) => compileRename(r).apply(k);
  assert.equal(apply({ stripPrefix: 'module.' }, 'module.fc.w'), 'fc.w');
  assert.equal(apply({ stripPrefix: 'module.' }, 'fc.w'), 'fc.w');
  assert.equal(apply({ addPrefix: 'm.' }, 'fc.w'), 'm.fc.w');
  assert.equal(apply({ replacePrefix: 'a.', with: 'b.' }, 'a.a.w'), 'b.a.w');
  assert.equal(apply({ replace: 'classifier.', with: '' }, 'x.classifier.classifier.w'), 'x.w');
  assert.equal(apply(['\\.(\\d+)\\.', '_$1.'], 'l.0.c.1.w'), 'l_0.c_1.w');
  assert.equal(apply([/^l/, 'L'], 'l.l'), 'L.l');
  assert.equal(renameRules(['^a', 'b']).length, 1);
  assert.equal(renameRules([['^a', 'b'], { stripPrefix: 'x' }]).length, 2);
  assert.throws(() => compileRename([1, 2] as never), /not a rename rule/);
  assert.throws(() => compileRename({ stripPrefix: '' }), /not a rename rule/);
});

test('previewLoad reads names and shapes only, never changes the model, reports instead of throwing', () => {
  const model = models.create('resnet18', { numClasses: 4 });
  const before = values(model, 'conv1.weight');
  const r = previewLoad(model, RESNET_DP, { rename: stripPrefix('module.') });
  assert.equal(r.ok, false);
  assert.equal(r.mismatched.length, 2);
  assert.equal(r.loaded.length, 120);
  assert.deepEqual(values(model, 'conv1.weight'), before);
  // model slots can be given directly
  const slots = [slot('conv1.weight', [64, 3, 7, 7])];
  assert.deepEqual(previewLoad(slots, RESNET_DP, { rename: stripPrefix('module.') }).loaded, ['conv1.weight']);
});
