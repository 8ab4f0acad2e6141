// Every load-plan option on small checkpoints: sub-dicts, renames, include / exclude, dtype casts,
// strict, formats (safetensors, sharded, zip and legacy .pth, TF.js, in-memory), lazy reads.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ArgumentError, CheckpointError } from '../../src/errors.ts';
import { FileSource } from '../../src/io/file.ts';
import {
  type LoadPlan,
  LoadPlanError,
  loadCheckpoint,
  PyOrderedDict,
  previewLoad,
  type RawTensor,
  readSafetensors,
  stripPrefix,
  writePth,
  writeSafetensors,
} from '../../src/io/index.ts';
import { readZipDirectory } from '../../src/io/pth/zip.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import * as models from '../../src/models/index.ts';
import { IO, RESNET_DP, Small, SSL, values, withTmp } from './_plan.ts';

const f32 = (shape: number[], fill: (i: number) => number): RawTensor => {
  const n = shape.reduce((a, b) => a * b, 1);
  return { dtype: 'float32', shape, data: new Uint8Array(Float32Array.from({ length: n }, (_, i) => fill(i)).buffer) };
};

/** A Small-shaped state dict whose every value is `base + index`. */
function smallDict(base: number): Map<string, RawTensor> {
  const src = new Small();
  const out = new Map<string, RawTensor>();
  for (const [k, t] of src.stateDict()) {
    out.set(k, t.dtype === 'int64' ? tensorToRaw(t) : f32(t.shape, (i) => base + i));
  }
  return out;
}

test('sub-dicts: auto takes state_dict / model_state_dict / model, a dotted path reaches nested ones', () => {
  withTmp((dir) => {
    const file = join(dir, 'ema.pth');
    writePth(file, { epoch: 3, model: { online: smallDict(1), ema: smallDict(100) } });
    // two sub-dicts with unknown names: auto flattens and the names do not match the model
    const flat = previewLoad(new Small(), file);
    assert.deepEqual(flat.subDict, { path: 'model', auto: true, alternatives: ['model.online', 'model.ema'] });
    assert.match(flat.error!.message, /no checkpoint tensor matches.*online\.conv\.weight/);
    assert.match(flat.error!.message, /hint: rename: \[stripPrefix\('online\.'\)\]/);
    const m = new Small();
    const r = loadCheckpoint(m, file, { subDict: 'model.ema', strict: true });
    assert.deepEqual(r.subDict, { path: 'model.ema', auto: false, alternatives: [] });
    assert.deepEqual(values(m, 'conv.bias'), [100, 101]);
    assert.throws(
      () => loadCheckpoint(new Small(), file, { subDict: 'model.teacher' }),
      (e: Error) =>
        e instanceof CheckpointError &&
        e.message.includes(`${file}: no sub-dict 'model.teacher': the keys at 'model' are online, ema`),
    );
    assert.throws(() => loadCheckpoint(new Small(), file, { subDict: 'epoch' }), /'epoch' is a number, not a dict/);
  });
  assert.equal(previewLoad(new Small(), SSL, {}).subDict.path, 'model');
  assert.equal(
    previewLoad(models.create('resnet18'), RESNET_DP, { rename: stripPrefix('module.') }).subDict.path,
    'state_dict',
  );
});

test("a dotted sub-dict on a flat safetensors file selects and strips that prefix; '' keeps the top level", () => {
  withTmp((dir) => {
    const file = join(dir, 'flat.safetensors');
    const sd = new Map([...smallDict(5)].map(([k, v]) => [`model.ema.${k}`, v]));
    writeSafetensors(file, sd);
    const m = new Small();
    const r = loadCheckpoint(m, file, { subDict: 'model.ema' });
    assert.equal(r.loaded.length, 9);
    assert.deepEqual(values(m, 'fc.bias'), [5, 6, 7]);
    assert.equal(previewLoad(new Small(), file, { subDict: '' }).unexpected.length, 9);
  });
});

test('rename rules apply in order: regex with groups, prefix helpers, functions; collisions and bad rules are errors', () => {
  withTmp((dir) => {
    const file = join(dir, 'renamed.pth');
    const src = smallDict(0);
    writePth(file, new Map([...src].map(([k, v]) => [`net.${k.replace('conv', 'stem')}`, v])));
    const plan: LoadPlan = {
      rename: [{ replacePrefix: 'net.', with: 'x.' }, ['^x\\.stem\\.(\\w+)$', 'conv.$1'], stripPrefix('x.'), (k) => k],
      strict: true,
    };
    const r = loadCheckpoint(new Small(), file, plan);
    assert.equal(r.loaded.length, 9);
    assert.deepEqual(r.renamed[0], { from: 'net.stem.weight', to: 'conv.weight' });
    assert.deepEqual(r.plan, [
      "rename replacePrefix 'net.' -> 'x.'",
      "rename /^x\\.stem\\.(\\w+)$/ -> 'conv.$1'",
      "rename stripPrefix 'x.'",
      'rename function (anonymous)',
      'strict',
    ]);
    assert.throws(
      () => loadCheckpoint(new Small(), file, { rename: [['^net\\.\\w+\\.', 'fc.']] }),
      (e: Error) =>
        e instanceof CheckpointError &&
        /maps both 'net\.stem\.weight' and 'net\.bn\.weight' to 'fc\.weight'/.test(e.message),
    );
    assert.throws(() => loadCheckpoint(new Small(), file, { rename: [['(', '']] }), ArgumentError);
    assert.throws(
      () => loadCheckpoint(new Small(), file, { rename: [{ stripprefix: 'x' } as never] }),
      /not a rename rule/,
    );
    assert.throws(
      () => loadCheckpoint(new Small(), file, { renames: [] } as never),
      /unknown load plan option 'renames'/,
    );
    assert.throws(
      () => loadCheckpoint(new Small(), file, { onShapeMismatch: 'ignore' } as never),
      /must be "error" or "skip"/,
    );
  });
});

test('include / exclude see model names: globs cross dots, a bare name is a module path, RegExps work', () => {
  const plan = (p: LoadPlan) =>
    previewLoad(models.create('resnet18'), RESNET_DP, { rename: stripPrefix('module.'), ...p });
  const noBnCount = plan({ exclude: '*.num_batches_tracked' });
  assert.equal(noBnCount.loaded.length, 102);
  assert.equal(noBnCount.excluded.length, 20);
  assert.deepEqual(plan({ include: 'layer4.1.bn2' }).loaded, [
    'layer4.1.bn2.weight',
    'layer4.1.bn2.bias',
    'layer4.1.bn2.running_mean',
    'layer4.1.bn2.running_var',
    'layer4.1.bn2.num_batches_tracked',
  ]);
  assert.deepEqual(plan({ include: [/^fc\./, 'conv1'] }).loaded, ['conv1.weight', 'fc.weight', 'fc.bias']);
  const typo = plan({ exclude: 'classifier' });
  assert.ok(typo.notes.includes("exclude 'classifier' matched no checkpoint key"));
  assert.equal(typo.loaded.length, 122);
});

test('dtypes: float16 / float64 checkpoints are cast to the model and reported; onDtypeMismatch error refuses', () => {
  withTmp((dir) => {
    const file = join(dir, 'half.safetensors');
    const sd = smallDict(0);
    const half = (t: RawTensor): RawTensor => {
      const f = new Float32Array(t.data.buffer.slice(0));
      // small integers are exact in float16: build the bits by hand for 0..15
      const bits = Uint16Array.from(f, (x) =>
        x === 0 ? 0 : ((15 + Math.floor(Math.log2(x))) << 10) | ((x / 2 ** Math.floor(Math.log2(x)) - 1) * 1024),
      );
      return { dtype: 'float16', shape: t.shape, data: new Uint8Array(bits.buffer) };
    };
    writeSafetensors(file, new Map([...sd].map(([k, v]) => [k, v.dtype === 'float32' ? half(v) : v])));
    const m = new Small();
    const r = loadCheckpoint(m, file);
    assert.equal(r.cast.length, 8);
    assert.deepEqual(r.cast[0], { key: 'conv.weight', from: 'float16', to: 'float32' });
    assert.deepEqual(values(m, 'conv.weight'), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(m.getParameter('conv.weight')!.dtype, 'float32');
    assert.throws(
      () => loadCheckpoint(new Small(), file, { onDtypeMismatch: 'error' }),
      (e: Error) =>
        e instanceof LoadPlanError && /dtype mismatch for conv\.weight \(float16 -> float32\)/.test(e.message),
    );
  });
});

test('strict: missing or unexpected keys fail; excluded and defaulted keys do not', () => {
  withTmp((dir) => {
    const file = join(dir, 'partial.pth');
    const sd = smallDict(0);
    sd.delete('fc.bias');
    sd.delete('bn.num_batches_tracked');
    sd.set(
      'extra.weight',
      f32([2], () => 1),
    );
    writePth(file, sd);
    assert.throws(
      () => loadCheckpoint(new Small(), file, { strict: true }),
      (e: Error) =>
        e instanceof LoadPlanError &&
        e.message.includes('strict: model keys missing from the checkpoint: fc.bias') &&
        e.message.includes('strict: unexpected checkpoint keys: extra.weight') &&
        e.missingKeys.join() === 'fc.bias',
    );
    // excluding the unexpected key is not enough: fc.bias is a model key the checkpoint lacks
    assert.throws(
      () => loadCheckpoint(new Small(), file, { strict: true, exclude: 'extra' }),
      /missing from the checkpoint: fc\.bias/,
    );
    const r = loadCheckpoint(new Small(), file, { exclude: 'extra' });
    assert.deepEqual(r.missing, ['fc.bias']);
    assert.deepEqual(r.excluded, [{ key: 'extra.weight', from: 'extra.weight', by: "exclude 'extra'" }]);
  });
});

test('strict passes once the unexpected key is excluded and the missing one supplied; num_batches_tracked defaults', () => {
  withTmp((dir) => {
    const file = join(dir, 'old.pth');
    const sd = smallDict(0);
    sd.delete('bn.num_batches_tracked'); // checkpoints from before PyTorch 0.4.1 lack it
    sd.set(
      'extra.weight',
      f32([2], () => 1),
    );
    writePth(file, sd);
    const m = new Small();
    const r = loadCheckpoint(m, file, { strict: true, exclude: 'extra' });
    assert.deepEqual(r.defaulted, ['bn.num_batches_tracked']);
    assert.deepEqual(r.missing, []);
    assert.deepEqual(values(m, 'bn.num_batches_tracked'), [0]);
  });
});

test('formats by content: safetensors, sharded index (file or folder), legacy .pth, a renamed extension', () => {
  const expectAll = (file: string, plan: LoadPlan = {}) => {
    const m = new Small();
    const r = loadCheckpoint(m, file, { ...plan });
    assert.equal(r.loaded.length, 9, file);
    return { m, r };
  };
  const st = readSafetensors(join(IO, 'model.safetensors')).tensors;
  const { m, r } = expectAll(join(IO, 'model.safetensors'));
  assert.equal(r.format, 'safetensors');
  assert.equal(r.unexpected.length, 16);
  const want = st.get('fc.weight')!;
  assert.deepEqual(
    values(m, 'fc.weight'),
    Array.from(new Float32Array(want.data.buffer.slice(want.data.byteOffset, want.data.byteOffset + 24))),
  );
  assert.equal(expectAll(join(IO, 'sharded', 'model.safetensors.index.json')).r.format, 'safetensors-sharded');
  assert.equal(expectAll(join(IO, 'sharded')).r.format, 'safetensors-sharded');
  const legacy = loadCheckpoint(new Small(), join(IO, 'legacy.pth'), { include: 'conv' });
  assert.equal(legacy.format, 'pth-legacy');
  assert.deepEqual(legacy.loaded, ['conv.weight']);
  withTmp((dir) => {
    // pytorch_model.bin.index.json and its .bin shards, as older Hugging Face models ship
    const sd = [...smallDict(30)];
    writePth(join(dir, 'pytorch_model-00001-of-00002.bin'), new Map(sd.slice(0, 4)));
    writePth(join(dir, 'pytorch_model-00002-of-00002.bin'), new Map(sd.slice(4)));
    const weightMap = Object.fromEntries(sd.map(([k], i) => [k, `pytorch_model-0000${i < 4 ? 1 : 2}-of-00002.bin`]));
    writeFileSync(join(dir, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const { m: fromShards, r: shardReport } = expectAll(dir);
    assert.equal(shardReport.format, 'pth-sharded');
    assert.deepEqual(values(fromShards, 'fc.bias'), [30, 31, 32]);
    const odd = join(dir, 'weights.ckpt');
    writeFileSync(odd, readFileSync(join(IO, 'model.safetensors')));
    assert.equal(expectAll(odd).r.format, 'safetensors');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    assert.throws(() => loadCheckpoint(new Small(), join(dir, 'notes.txt')), /unrecognised checkpoint format/);
    assert.throws(() => loadCheckpoint(new Small(), join(dir, 'nope.pth')), /nope\.pth: no such file or folder/);
  });
});

test('tensors the plan does not take are never read: a corrupt excluded storage loads, taking it fails its CRC', () => {
  withTmp((dir) => {
    const file = join(dir, 'corrupt.pth');
    const bytes = new Uint8Array(readFileSync(RESNET_DP));
    const src = new FileSource(RESNET_DP);
    const entries = readZipDirectory(src);
    src.close();
    // storages are numbered in pickling order: the last one is module.fc.bias
    const last = [...entries.values()]
      .filter((e) => /\/data\/\d+$/.test(e.name))
      .sort((a, b) => Number(a.name.split('/').pop()) - Number(b.name.split('/').pop()))
      .pop()!;
    bytes[last.dataOffset]! ^= 0xff;
    writeFileSync(file, bytes);
    const plan: LoadPlan = { rename: stripPrefix('module.'), include: 'layer1.0.conv1' };
    assert.deepEqual(loadCheckpoint(models.create('resnet18'), file, plan).loaded, ['layer1.0.conv1.weight']);
    assert.throws(
      () => loadCheckpoint(models.create('resnet18'), file, { ...plan, include: 'fc.bias' }),
      (e: Error) => e instanceof CheckpointError && e.message.includes('CRC-32'),
    );
  });
});

test('in-memory sources: readPth-style Maps, plain objects of RawTensors, another model state dict', () => {
  const fromMap = new Small();
  const od = new PyOrderedDict<string, RawTensor>(smallDict(10));
  const r = loadCheckpoint(fromMap, new Map([['state_dict', od]]));
  assert.equal(r.file, '<object>');
  assert.equal(r.format, 'object');
  assert.equal(r.subDict.path, 'state_dict');
  assert.deepEqual(values(fromMap, 'conv.bias'), [10, 11]);
  const fromObject = new Small();
  loadCheckpoint(fromObject, { model: Object.fromEntries(smallDict(20)) });
  assert.deepEqual(values(fromObject, 'conv.bias'), [20, 21]);
  // graft Tensors: copy one model into another with a different head
  const resnet = models.create('resnet18', { numClasses: 4 });
  const other = models.create('resnet18', { numClasses: 4 });
  const report = loadCheckpoint(resnet, other.stateDict(), { strict: true });
  assert.equal(report.loaded.length, 122);
  assert.deepEqual(values(resnet, 'fc.bias'), values(other, 'fc.bias'));
});

test('TF.js: a Keras MobileNetV2 loads into torchvision mobilenet_v2 names, kernels transposed', async () => {
  const { packageDir } = await import('../../src/io/tfjs/package_dir.ts');
  const { pretrained } = await import('../../src/models/pretrained.ts');
  const dir = join(packageDir('nsfwjs'), 'dist', 'models', 'mobilenet_v2');
  const model = models.create('mobilenet_v2', { numClasses: 5 });
  const report = loadCheckpoint(model, dir);
  assert.equal(report.format, 'tfjs');
  assert.equal(report.loaded.length, 260);
  assert.deepEqual(report.renamed[0], { from: 'Conv1/kernel', to: 'features.0.0.weight' });
  assert.deepEqual(report.missing, ['classifier.1.weight', 'classifier.1.bias']);
  assert.deepEqual(report.unexpected.slice(0, 2), ['dense_1/kernel', 'dense_1/bias']);
  assert.match(report.notes[0]!, /converted Keras MobileNetV2/);
  const ref = pretrained('mobilenet_v2', { numClasses: 5 }).model;
  for (const k of ['features.0.0.weight', 'features.5.conv.1.0.weight', 'features.18.1.running_var'])
    assert.deepEqual(values(model, k), values(ref, k), k);
  assert.equal(previewLoad(model, dir, { convert: 'none', allowEmpty: true }).loaded.length, 0);
});
