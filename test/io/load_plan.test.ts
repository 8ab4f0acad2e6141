// Load plans on torch-written checkpoints (scripts/fixtures/plan_fixtures.py), one test per seed's
// hand-written loading code, then every plan option.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { ParamIndex } from '../../src/finetune/select.ts';
import {
  flattenTensors,
  LoadPlanError,
  loadCheckpoint,
  readPth,
  replaceText,
  stripPrefix,
} from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import {
  allEqual,
  BackboneWithHead,
  constants,
  GENERAL,
  planJson,
  projector,
  RESNET_DP,
  SSL,
  values,
} from './_plan.ts';

const rawValues = (t: { dtype: string; data: Uint8Array }) =>
  Array.from(
    t.dtype === 'int64'
      ? new BigInt64Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength))
      : new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
    Number,
  );

test('seed 000: keep only keys present in the model with equal shapes', () => {
  // init["state_dict"] -> {k: v for k, v in init_state_dict.items() if k in net_state_dict and size == size}
  const net = models.create('cifar_net', { numClasses: 4 });
  const fc3Before = values(net, 'fc3.weight');
  const report = loadCheckpoint(net, GENERAL, { onShapeMismatch: 'skip' });

  const sd = net.stateDict();
  const consts = planJson.general_checkpoint;
  const handWritten = Object.keys(consts).filter((k) => sd.has(k) && sd.get(k)!.shape.join() === consts[k]![0].join());
  assert.deepEqual(report.loaded, handWritten);
  assert.deepEqual(report.subDict, { path: 'model_state_dict', auto: true, alternatives: [] });
  assert.deepEqual(
    constants(net, (k) => consts[k]![2], handWritten),
    [],
  );
  assert.deepEqual(report.skippedShape, [
    { key: 'fc3.weight', from: 'fc3.weight', checkpoint: [10, 84], model: [4, 84] },
    { key: 'fc3.bias', from: 'fc3.bias', checkpoint: [10], model: [4] },
  ]);
  assert.deepEqual(values(net, 'fc3.weight'), fc3Before);
  assert.deepEqual(report.missing, []);
  assert.equal(report.parameters.new, 4 * 84 + 4);
});

test("seed 000: the report splits pretrained and new layers (configure_pretrained_optimizers' `name in init['state_dict']`)", () => {
  const net = models.create('cifar_net', { numClasses: 4 });
  const report = loadCheckpoint(net, GENERAL, { onShapeMismatch: 'skip' });
  const index = new ParamIndex({ model: net, loadReport: report });
  assert.deepEqual(index.select({ loaded: false }), ['fc3.weight', 'fc3.bias']);
  assert.equal(index.select({ loaded: true }).length, 8);
});

test("seed 001: load only the backbone (`'backbone' in k and 'fc' not in k`) from ckpt['model']", () => {
  const net = new BackboneWithHead();
  const report = loadCheckpoint(net, SSL, { subDict: 'model', include: ['backbone'], exclude: ['*fc*'] });
  const ckpt = flattenTensors(readPth(SSL));
  assert.deepEqual(report.loaded, [
    'backbone.conv.weight',
    'backbone.conv.bias',
    'backbone.bn.weight',
    'backbone.bn.bias',
    'backbone.bn.running_mean',
    'backbone.bn.running_var',
    'backbone.bn.num_batches_tracked',
  ]);
  for (const k of report.loaded) assert.deepEqual(values(net, k), rawValues(ckpt.get(`model.${k}`)!), k);
  assert.deepEqual(values(net, 'backbone.bn.num_batches_tracked'), [7]);
  assert.deepEqual(
    report.excluded.map((e) => [e.key, e.by]),
    [
      ['backbone.fc.weight', "exclude '*fc*'"],
      ['backbone.fc.bias', "exclude '*fc*'"],
      ['classifier.0.weight', 'not included'],
      ['classifier.0.bias', 'not included'],
      ['classifier.2.weight', 'not included'],
      ['classifier.2.bias', 'not included'],
    ],
  );
  assert.deepEqual(report.missing, ['head.weight', 'head.bias']);
  assert.deepEqual(report.unexpected, []);
});

test("seed 001: load only the projector from a checkpoint whose keys carry a `classifier.` prefix (`k.replace('classifier.', '')`)", () => {
  const ckpt = flattenTensors(readPth(SSL));
  const keys = ['0.weight', '0.bias', '2.weight', '2.bias'];
  // fromPrefix: only keys under it, stripped; the rest is excluded, not unexpected
  const a = projector();
  const ra = loadCheckpoint(a, SSL, { fromPrefix: 'classifier.', strict: true });
  assert.deepEqual(ra.loaded, keys);
  assert.deepEqual(
    ra.renamed.map((r) => r.from),
    keys.map((k) => `classifier.${k}`),
  );
  assert.equal(ra.excluded.length, 9);
  assert.ok(ra.excluded.every((e) => e.by === "fromPrefix 'classifier.'" && e.from.startsWith('backbone.')));
  for (const k of keys) assert.deepEqual(values(a, k), rawValues(ckpt.get(`model.classifier.${k}`)!), k);
  // the seed's literal replace: the backbone keys stay and are reported unexpected
  const b = projector();
  const rb = loadCheckpoint(b, SSL, { rename: replaceText('classifier.', '') });
  assert.deepEqual(rb.loaded, keys);
  assert.equal(rb.unexpected.length, 9);
  for (const k of keys) assert.deepEqual(values(b, k), values(a, k));
});

test("seed 002: strip DataParallel's `module.`; resnet18 1000→4 classes: fc skipped for shape, reported as new", () => {
  const model = models.create('resnet18', { numClasses: 4 });
  const params = new Map(model.namedParameters());
  const fcBefore = values(model, 'fc.weight');
  const report = loadCheckpoint(model, RESNET_DP, { rename: [stripPrefix('module.')], onShapeMismatch: 'skip' });

  assert.equal(report.subDict.path, 'state_dict');
  assert.equal(report.loaded.length, 120);
  assert.equal(report.renamed.length, 122);
  assert.deepEqual(report.renamed[0], { from: 'module.conv1.weight', to: 'conv1.weight' });
  assert.deepEqual(report.skippedShape, [
    { key: 'fc.weight', from: 'module.fc.weight', checkpoint: [1000, 512], model: [4, 512] },
    { key: 'fc.bias', from: 'module.fc.bias', checkpoint: [1000], model: [4] },
  ]);
  assert.deepEqual(report.parameters, { total: 11178564, loaded: 11176512, new: 2052 });
  const consts = planJson.resnet18_dp;
  assert.deepEqual(
    constants(model, (k) => consts[`module.${k}`]![2], report.loaded),
    [],
  );
  assert.deepEqual(values(model, 'fc.weight'), fcBefore);
  // copied in place: the Parameter objects an optimizer holds are the loaded ones
  for (const [k, p] of model.namedParameters()) assert.equal(p, params.get(k), k);
  assert.ok(allEqual(Array.from(params.get('conv1.weight')!.data() as Float32Array), 0.001));
});

test('seed 002: by default the mismatch fails naming the file, the key and both shapes; nothing is copied', () => {
  const model = models.create('resnet18', { numClasses: 4 });
  const before = values(model, 'conv1.weight');
  const err = (() => {
    try {
      loadCheckpoint(model, RESNET_DP, { rename: [stripPrefix('module.')] });
    } catch (e) {
      return e;
    }
  })() as LoadPlanError;
  assert.ok(err instanceof LoadPlanError && err instanceof CheckpointError);
  assert.equal(err.file, RESNET_DP);
  assert.match(
    err.message,
    /resnet18_dp\.pth: size mismatch for fc\.weight \(checkpoint key module\.fc\.weight\): checkpoint \[1000, 512\], model \[4, 512\]/,
  );
  assert.match(err.message, /hint: exclude them \(exclude: \['fc'\]\) or set onShapeMismatch: 'skip'/);
  assert.deepEqual(
    err.mismatches.map((m) => m.key),
    ['fc.weight', 'fc.bias'],
  );
  assert.deepEqual(values(model, 'conv1.weight'), before);
  // excluding the head is the other fix
  const report = loadCheckpoint(model, RESNET_DP, { rename: [stripPrefix('module.')], exclude: 'fc' });
  assert.deepEqual(report.missing, []);
  assert.deepEqual(
    report.excluded.map((e) => e.key),
    ['fc.weight', 'fc.bias'],
  );
});

test('seed 002: the same checkpoint loads strictly into a 1000-class resnet18', () => {
  const model = models.create('resnet18');
  const report = loadCheckpoint(model, RESNET_DP, { rename: stripPrefix('module.'), strict: true });
  assert.equal(report.loaded.length, 122);
  assert.deepEqual(report.counts.unexpected + report.counts.missing + report.counts.skippedShape, 0);
  assert.ok(allEqual(values(model, 'fc.bias'), planJson.resnet18_dp['module.fc.bias']![2], 1e-6));
});

test('forgetting the rename loads nothing: an error that suggests the prefix to strip', () => {
  const model = models.create('resnet18', { numClasses: 4 });
  assert.throws(
    () => loadCheckpoint(model, RESNET_DP),
    (e: Error) =>
      e instanceof LoadPlanError &&
      /no checkpoint tensor matches a model key \(checkpoint keys look like 'module\.conv1\.weight', model keys like 'conv1\.weight'\)/.test(
        e.message,
      ) &&
      /hint: rename: \[stripPrefix\('module\.'\)\]/.test(e.message),
  );
  // allowEmpty turns it into a report
  const report = loadCheckpoint(model, RESNET_DP, { allowEmpty: true });
  assert.equal(report.loaded.length, 0);
  assert.ok(report.notes.includes("rename: [stripPrefix('module.')] would match 122 more keys"));
});
