// Load-plan key handling: filters on the checkpoint's own key names (before renaming), errors that
// say when the plan's filters removed everything, tied parameters as one slot (GPT-2's lm_head),
// and which model keys the checkpoint had (for "present in the checkpoint" selectors).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { ArgumentError } from '../../src/errors.ts';
import {
  type CheckpointEntry,
  LoadPlanError,
  loadCheckpoint,
  type ModelSlot,
  planLoad,
  previewLoad,
  readSafetensors,
  stripPrefix,
} from '../../src/io/index.ts';
import { GPT2LMHeadModel } from '../../src/models/gpt2.ts';
import { fromArray, type Tensor } from '../../src/tensor/index.ts';
import { capture } from '../_capture.ts';
import { readJson } from '../models/_fixture.ts';
import { RESNET_DP } from './_plan.ts';

const ctx = {
  file: 'ck.pth',
  format: 'pth-zip' as const,
  subDict: { path: '', auto: true, alternatives: [] },
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
const entry = (key: string, shape: number[]): CheckpointEntry => ({ key, shape, dtype: 'float32' });

// seed 001's checkpoint: a classifier wrapped in a larger model, keys with `classifier` anywhere
const ENTRIES = [
  entry('backbone.conv.weight', [8, 3]),
  entry('classifier.fc.weight', [4, 8]),
  entry('classifier.fc.bias', [4]),
  entry('heads.aux_classifier.weight', [2, 8]),
  entry('heads.other.weight', [2, 8]),
];
const SLOTS = [slot('fc.weight', [4, 8]), slot('fc.bias', [4]), slot('aux_classifier.weight', [2, 8])];

test("includeOriginal keeps checkpoint keys containing the text, before renaming (the seeds' 'x' in k)", () => {
  const rename = [stripPrefix('classifier.'), stripPrefix('heads.')];
  const r = planLoad(ENTRIES, SLOTS, { includeOriginal: 'classifier', rename, strict: true }, ctx);
  assert.ok(r.ok, r.error?.message);
  assert.deepEqual(r.loaded, ['fc.weight', 'fc.bias', 'aux_classifier.weight']);
  assert.deepEqual(
    r.excluded.map((x) => [x.from, x.by]),
    [
      ['backbone.conv.weight', 'not in includeOriginal'],
      ['heads.other.weight', 'not in includeOriginal'],
    ],
  );
  assert.ok(r.plan.includes("includeOriginal 'classifier'"));
  // a glob matches the whole original key; a '/re/' string is a regex; excludeOriginal drops
  const glob = planLoad(ENTRIES, SLOTS, { includeOriginal: 'classifier.*', rename }, ctx);
  assert.deepEqual(glob.loaded, ['fc.weight', 'fc.bias']);
  const re = planLoad(ENTRIES, SLOTS, { includeOriginal: '/^heads\\./', rename }, ctx);
  assert.deepEqual(re.loaded, ['aux_classifier.weight']);
  const ex = planLoad(ENTRIES, SLOTS, { excludeOriginal: [/aux/], rename }, ctx);
  assert.deepEqual(ex.loaded, ['fc.weight', 'fc.bias']);
  assert.equal(ex.excluded.find((x) => x.from === 'heads.aux_classifier.weight')?.by, 'excludeOriginal /aux/');
  // fromPrefix would have missed heads.aux_classifier.weight: includeOriginal sees it
  assert.equal(planLoad(ENTRIES, SLOTS, { fromPrefix: 'classifier.' }, ctx).loaded.length, 2);
  assert.throws(() => planLoad(ENTRIES, SLOTS, { includeOriginal: '/(/' }, ctx), ArgumentError);
  const none = planLoad(ENTRIES, SLOTS, { includeOriginal: ['classifier', 'nothing_here'], rename }, ctx);
  assert.ok(none.notes.includes("includeOriginal 'nothing_here' matched no checkpoint key"));
});

test('when the filters remove every checkpoint key, the error says exactly that', () => {
  const all = planLoad(ENTRIES, SLOTS, { include: 'fc' }, ctx); // model names: the file's keys are not renamed
  assert.ok(all.error instanceof LoadPlanError);
  assert.match(
    all.error.message,
    /the plan's key filters removed every one of the 5 checkpoint keys \(5 by not included\)/,
  );
  assert.doesNotMatch(all.error.message, /checkpoint keys look like/);
  assert.match(all.error.hint ?? '', /includeOriginal/);
  const mixed = planLoad(ENTRIES, SLOTS, { excludeOriginal: 'classifier', exclude: ['backbone', 'heads'] }, ctx);
  assert.match(
    mixed.error!.message,
    /removed every one of the 5 checkpoint keys \(1 by exclude 'backbone', 3 by excludeOriginal 'classifier', 1 by exclude 'heads'\)/,
  );
  // some removed, the rest unmatched: the usual message, with the count removed
  const some = planLoad(ENTRIES, SLOTS, { exclude: 'backbone' }, ctx);
  assert.match(some.error!.message, /no checkpoint tensor matches a model key .*the plan's filters removed 1 more/);
});

test('the report says, per model key, whether the checkpoint had it (shape-skipped included)', () => {
  const slots = [...SLOTS, slot('new.weight', [1])];
  const entries = [entry('fc.weight', [10, 8]), entry('fc.bias', [4]), entry('aux_classifier.weight', [2, 8])];
  const r = planLoad(entries, slots, { onShapeMismatch: 'skip', exclude: 'aux_classifier' }, ctx);
  assert.deepEqual(r.loaded, ['fc.bias']);
  assert.deepEqual(r.inCheckpoint, ['fc.weight', 'fc.bias']);
  assert.deepEqual(
    r.rows().map((x) => [x.key, x.inCheckpoint]),
    [
      ['fc.weight', true],
      ['fc.bias', true],
      ['aux_classifier.weight', false],
      ['new.weight', false],
    ],
  );
  assert.deepEqual(r.toJSON().inCheckpoint, ['fc.weight', 'fc.bias']);
});

// ---- tied parameters: GPT-2 as Hugging Face saves it (no lm_head.weight) ----

const config = (readJson('transformers.json') as { gpt2: { config: Record<string, unknown> } }).gpt2.config;
const GPT2 = join(import.meta.dirname, '..', 'fixtures', 'models', 'gpt2_tiny.safetensors');
const values = (t: Tensor) => Array.from(t.data().slice(0, 8) as Float32Array);

test('a strict load of a Hugging Face GPT-2 checkpoint (no lm_head.weight) succeeds; lm_head is tied, not new', () => {
  const m = GPT2LMHeadModel.fromConfig(config);
  try {
    const preview = previewLoad(m, GPT2, { strict: true });
    assert.ok(preview.ok, preview.error?.message);
    const r = loadCheckpoint(m, GPT2, { strict: true });
    assert.deepEqual(r.missing, []);
    assert.deepEqual(r.tied, [{ key: 'lm_head.weight', to: 'transformer.wte.weight' }]);
    assert.equal(r.rows().find((x) => x.key === 'lm_head.weight')?.status, 'tied');
    assert.ok(r.inCheckpoint.includes('lm_head.weight'));
    assert.ok(m.tied);
    const wte = readSafetensors(GPT2).tensors.get('transformer.wte.weight')!;
    assert.deepEqual(values(m.lm_head.weight), Array.from(new Float32Array(wte.data.buffer, wte.data.byteOffset, 8)));
    // counted once, as model.parameters() does
    const total = m.parameters().reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
    assert.equal(r.parameters.total, total);
    assert.equal(r.parameters.new, 0);
    const loose = previewLoad(m, GPT2);
    assert.ok(!loose.missing.includes('lm_head.weight'));
    assert.match(loose.table(), /tied\s+lm_head\.weight .*tied to transformer\.wte\.weight/);
  } finally {
    m.dispose();
  }
});

test('tied keys: the first name the checkpoint has fills the tensor; a second value is reported unused', () => {
  const weights = readSafetensors(GPT2).tensors;
  const wte = weights.get('transformer.wte.weight')!;
  const other = fromArray(new Float32Array(wte.data.byteLength / 4).fill(7), wte.shape);
  const m = GPT2LMHeadModel.fromConfig(config);
  try {
    const both = new Map<string, unknown>([...weights, ['lm_head.weight', other]]);
    const r = loadCheckpoint(m, both, { strict: true });
    assert.equal(
      r.rows().find((x) => x.key === 'lm_head.weight')?.by,
      'tied to transformer.wte.weight (its checkpoint value lm_head.weight is not used)',
    );
    assert.notEqual(values(m.lm_head.weight)[0], 7, 'wte wins, as transformers ties after loading');
    // only the head's name in the file: it fills wte too
    const headOnly = new Map<string, unknown>([...weights].filter(([k]) => k !== 'transformer.wte.weight'));
    headOnly.set('lm_head.weight', other);
    const h = loadCheckpoint(m, headOnly, { strict: true });
    assert.deepEqual(h.tied, [{ key: 'transformer.wte.weight', to: 'lm_head.weight' }]);
    assert.equal(values(m.transformer.wte.weight)[0], 7);
    assert.ok(m.tied);
  } finally {
    other.dispose();
    m.dispose();
  }
});

test('graft inspect --against takes --include-original / --exclude-original', async () => {
  const { code, out, err } = await capture(() =>
    main([
      'inspect',
      RESNET_DP,
      '--against',
      'resnet18',
      '--strip-prefix',
      'module.',
      '--include-original',
      'layer4',
      '--exclude-original',
      '*.downsample.*',
      '--json',
    ]),
  );
  assert.equal(code, 0, err);
  const report = JSON.parse(out) as { loaded: string[]; plan: string[]; inCheckpoint: string[] };
  assert.ok(
    report.loaded.length > 0 && report.loaded.every((k) => k.startsWith('layer4.') && !k.includes('downsample')),
  );
  assert.deepEqual(report.plan.slice(0, 2), ["includeOriginal 'layer4'", "excludeOriginal '*.downsample.*'"]);
  assert.deepEqual(report.inCheckpoint, report.loaded);
});
