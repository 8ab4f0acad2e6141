// `graft inspect`, run in-process through main() with console output captured.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { packageDir } from '../../src/io/tfjs/package_dir.ts';
import { capture, GENERAL, IO, RESNET_DP, withTmpAsync } from '../io/_plan.ts';

const run = (...args: string[]) => capture(() => main(['inspect', ...args]));
const NSFWJS = () => join(packageDir('nsfwjs'), 'dist', 'models', 'mobilenet_v2');

test('a .pth: header with totals, sub-dicts, values, aligned tensor rows', async () => {
  const { code, out } = await run(RESNET_DP, '--limit', '3');
  assert.equal(code, 0);
  const lines = out.split('\n');
  assert.match(
    lines[0]!,
    /resnet18_dp\.pth: PyTorch checkpoint \(zip\), 36\.\d KiB on disk; 122 tensors, 11,699,132 elements, 44\.6 MiB$/,
  );
  assert.equal(lines[1], 'dict');
  assert.deepEqual(lines.slice(2, 9), [
    '├─ epoch: 90',
    "├─ arch: 'resnet18'",
    '├─ state_dict: OrderedDict, 122 tensors, 11,699,132 elements, 44.6 MiB',
    '│  ├─ module.conv1.weight  float32  [64, 3, 7, 7]        9,408',
    '│  ├─ module.bn1.weight    float32  [64]                    64',
    '│  ├─ module.bn1.bias      float32  [64]                    64',
    '│  └─ ... 119 more',
  ]);
  assert.equal(lines[9], '└─ ... 2 more');
  const all = (await run(RESNET_DP)).out.split('\n');
  assert.ok(all.includes('├─ best_acc1: 69.758'));
  assert.ok(all.includes('└─ optimizer: dict, 2 entries'));
  assert.ok(all.includes('   ├─ state: dict, empty'));
  assert.ok(all.includes('         ├─ nesterov: False'));
  assert.ok(all.includes('         └─ params: list of 62 [0, 1, 2, 3, 4, 5, 6, 7, ...]'));
});

test('--json: flat lists of containers, tensors and values', async () => {
  const { code, out } = await run(GENERAL, '--json');
  assert.equal(code, 0);
  const j = JSON.parse(out);
  assert.equal(j.format, 'pth-zip');
  assert.deepEqual(j.totals, { tensors: 10, elements: 62006, bytes: 248024 });
  assert.deepEqual(j.tensors[0], {
    key: 'model_state_dict.conv1.weight',
    dtype: 'float32',
    shape: [6, 3, 5, 5],
    numel: 450,
  });
  assert.deepEqual(
    j.values.find((v: { key: string }) => v.key === 'loss'),
    { key: 'loss', value: 0.8731 },
  );
  assert.ok(
    j.containers.some((c: { key: string; type: string }) => c.key === 'optimizer_state_dict' && c.type === 'dict'),
  );
});

test('safetensors (metadata) and a sharded index are read from headers', async () => {
  const st = await run(join(IO, 'model.safetensors'));
  assert.equal(st.code, 0);
  assert.match(
    st.out,
    /^.*model\.safetensors: safetensors, 2\.0 KiB on disk; 25 tensors, 102 elements, 363 B\nmetadata: \{"format":"pt","note":"graft fixture"\}/,
  );
  assert.match(st.out, /├─ extra\.bf16 +bfloat16 +\[5\] +5\n/);
  const sh = await run(join(IO, 'sharded'));
  assert.equal(sh.code, 0);
  assert.match(sh.out, /sharded safetensors, 3\.\d KiB on disk; 25 tensors/);
  assert.match(sh.out, /shards: model-00001-of-00002\.safetensors, model-00002-of-00002\.safetensors/);
});

test('a TF.js model: Keras weight names and shapes', async () => {
  const { code, out } = await run(NSFWJS(), '--limit', '2');
  assert.equal(code, 0);
  assert.match(out, /TF\.js layers model, 3\.\d MiB on disk; 266 tensors, 2,619,461 elements, 10\.0 MiB/);
  assert.match(out, /keras 2\.2\.4 \(tensorflow\), Model of 162 layers/);
  assert.match(out, /├─ Conv1\/kernel +float32 +\[3, 3, 3, 32\] +864/);
  await withTmpAsync(async (dir) => {
    // a small model.json next to its shard
    mkdirSync(join(dir, 'm'));
    const doc = {
      modelTopology: {
        keras_version: '2.1.6',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Sequential',
          config: { layers: [{ class_name: 'Dense', config: { name: 'dense' } }] },
        },
      },
      weightsManifest: [
        { paths: ['group1-shard1of1'], weights: [{ name: 'dense/kernel', shape: [2, 1], dtype: 'float32' }] },
      ],
    };
    writeFileSync(join(dir, 'm', 'model.json'), JSON.stringify(doc));
    writeFileSync(join(dir, 'm', 'group1-shard1of1'), new Uint8Array(8));
    const small = await run(join(dir, 'm', 'model.json'));
    assert.equal(small.code, 0);
    assert.match(small.out, /└─ dense\/kernel {2}float32 {2}\[2, 1\] +2/);
  });
});

test('--against: the load report a plan would give, exit 0 when it would succeed', async () => {
  const { code, out, err } = await run(
    RESNET_DP,
    '--against',
    'resnet18',
    '--num-classes',
    '4',
    '--strip-prefix',
    'module.',
    '--skip-mismatch',
    '--hide-loaded',
  );
  assert.equal(code, 0, err);
  const lines = out.split('\n');
  assert.deepEqual(lines.slice(0, 4), [
    'model       resnet18 (numClasses 4)',
    `checkpoint  ${RESNET_DP} (PyTorch checkpoint (zip))`,
    "sub-dict    'state_dict' (auto)",
    "plan        rename stripPrefix 'module.'; onShapeMismatch 'skip'",
  ]);
  assert.match(out, /skip:shape +fc\.weight +module\.fc\.weight +\[1000, 512\] -> \[4, 512\] +float32/);
  assert.match(out, /\(120 loaded or defaulted keys not shown\)/);
  assert.match(
    out,
    /loaded 120 of 122 model keys, 11,176,512 of 11,178,564 parameters; 2,052 parameters left as initialised/,
  );
});

test('--against: exit 1 with the reason when the load would fail; --json carries the report', async () => {
  const fail = await run(RESNET_DP, '--against', 'resnet18', '--num-classes', '4', '--strip-prefix', 'module.');
  assert.equal(fail.code, 1);
  assert.match(fail.out, /MISMATCH +fc\.weight/);
  assert.match(
    fail.err,
    /the load would fail: .*size mismatch for fc\.weight \(checkpoint key module\.fc\.weight\): checkpoint \[1000, 512\], model \[4, 512\]/,
  );
  const none = await run(RESNET_DP, '--against', 'resnet18');
  assert.equal(none.code, 1);
  assert.match(none.out, /note +rename: \[stripPrefix\('module\.'\)\] would match 122 more keys/);
  const j = await run(
    RESNET_DP,
    '--against',
    'resnet18',
    '--num-classes',
    '4',
    '--rename',
    '^module\\.=',
    '--exclude',
    'fc',
    '--json',
  );
  assert.equal(j.code, 0);
  const report = JSON.parse(j.out);
  assert.equal(report.model, 'resnet18 (numClasses 4)');
  assert.equal(report.ok, true);
  assert.equal(report.counts.loaded, 120);
  assert.deepEqual(
    report.excluded.map((e: { key: string }) => e.key),
    ['fc.weight', 'fc.bias'],
  );
});

test('--against a TF.js model previews the Keras -> torchvision mapping', async () => {
  const { code, out } = await run(NSFWJS(), '--against', 'mobilenet_v2', '--num-classes', '5', '--hide-loaded');
  assert.equal(code, 0);
  assert.match(out, /note +converted Keras MobileNetV2 weights to torchvision mobilenet_v2 names/);
  assert.match(out, /new +classifier\.1\.weight +- +\[5, 1280\]/);
  assert.match(out, /unexpected +dense_1\/kernel +=/);
  assert.match(out, /loaded 260 of 314 model keys/);
});

test('--plan FILE.json with flags on top', async () => {
  await withTmpAsync(async (dir) => {
    const plan = join(dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ rename: [['^module\\.', '']], onShapeMismatch: 'skip' }));
    const { code, out } = await run(
      RESNET_DP,
      '--against',
      'resnet18',
      '--num-classes',
      '4',
      '--plan',
      plan,
      '--include',
      'layer4',
      '--hide-loaded',
    );
    assert.equal(code, 0);
    assert.match(out, /plan +rename \/\^module\\\.\/ -> ''; include 'layer4'; onShapeMismatch 'skip'/);
    assert.match(out, /loaded 30 of 122 model keys/);
  });
});

test('exit codes: 2 for usage, 1 for unreadable files', async () => {
  for (const args of [
    [],
    [RESNET_DP, RESNET_DP],
    [RESNET_DP, '--frobnicate'],
    [RESNET_DP, '--strip-prefix', 'module.'],
    [RESNET_DP, '--against', 'resnet18', '--num-classes', 'four'],
    [RESNET_DP, '--against', 'resnet19'],
    [RESNET_DP, '--against', 'resnet18', '--rename', 'nope'],
    [RESNET_DP, '--against', 'resnet18', '--sub-dict', 'state_dict', '--exclude', ''],
  ]) {
    const r = await run(...args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.err, /usage: graft inspect FILE/, args.join(' '));
  }
  const missing = await run(join(IO, 'missing.pth'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /graft inspect: .*missing\.pth: no such file or folder/);
  const hostile = await run(join(IO, 'hostile', 'os_system.pth'));
  assert.equal(hostile.code, 1);
  assert.match(hostile.err, /posix\.system|os\.system/);
  const help = await run('--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /--against MODEL/);
});
