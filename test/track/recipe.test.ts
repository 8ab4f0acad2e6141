// A recipe's `log` section: the event files in the run folder hold the scalars of metrics.jsonl
// (same steps, same values as float32), histograms of the trainable parameters every N steps, the
// recipe's settings as hyper-parameters; metrics.csv holds the same scalars in full precision; a
// run resumed after a failure adds a file whose SessionLog START drops the orphans and rewinds the
// CSV; --overwrite replaces the old event files.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { recipeFrom, recipeHparams, runRecipe } from '../../src/recipe/index.ts';
import { imageFolder, readJsonl, withTmp } from '../recipe/_helpers.ts';
import { type Decoded, eventFiles, readEvents, scalarsOf } from './_reader.ts';

const f32 = Math.fround;

function tinyRecipe(root: string, out: string, epochs = [1, 1], logEvery = 1) {
  return recipeFrom({
    name: 'tracked',
    model: { name: 'cifar_net' },
    data: { kind: 'image-folder', root, imageSize: 32, batchSize: 4 },
    groups: [
      { name: 'features', match: ['conv1', 'conv2'], lrScale: 0.1 },
      { name: 'head', match: ['fc1', 'fc2', 'fc3'] },
    ],
    optimizer: { type: 'SGD', lr: 0.05, momentum: 0.9 },
    phases: [
      { name: 'head', epochs: epochs[0], freeze: { freeze: ['conv1', 'conv2'] } },
      { name: 'all', epochs: epochs[1], freeze: 'none' },
    ],
    train: { logEvery, threads: 1, report: false, export: false, seed: 3 },
    log: { tensorboard: { histogramsEvery: 2 }, csv: true },
    output: { dir: out },
  });
}

/** Every scalar of the run's event files by tag, [step, value] in order. */
const scalarsIn = (dir: string) => scalarsOf(eventFiles(dir).flatMap(readEvents));

/** The scalars metrics.jsonl says the run logged, as the callback names them. */
function expectedScalars(recs: Decoded[]): Map<string, [number, number][]> {
  const out = new Map<string, [number, number][]>();
  const put = (tag: string, step: number, v: number) => {
    if (!out.has(tag)) out.set(tag, []);
    out.get(tag)!.push([step, v]);
  };
  for (const r of recs) {
    if (r.type === 'step') {
      put('train/loss_step', r.step, r.loss);
      r.lr.forEach((lr: number, i: number) => {
        put(`lr/${r.groups?.[i] ?? `group${i}`}`, r.step, lr);
        put(`momentum/${r.groups?.[i] ?? `group${i}`}`, r.step, 0.9);
      });
    } else if (r.type === 'epoch') {
      put('epoch', r.step, r.epoch);
      for (const split of ['train', 'eval'])
        for (const k of ['loss', 'accuracy', 'top5', 'macroF1']) put(`${split}/${k}`, r.step, r[split][k]);
    }
  }
  return out;
}

test('a recipe run writes event files whose scalars equal metrics.jsonl, histograms, hparams and metrics.csv', async () => {
  await withTmp(async (dir) => {
    const root = await imageFolder(join(dir, 'data'), ['a', 'b', 'c'], { train: 4, val: 2 });
    const out = join(dir, 'run');
    const r = tinyRecipe(root, out);
    await runRecipe(r, {});
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    const files = eventFiles(out);
    assert.equal(files.length, 1, 'one event file, in the run folder itself');
    const events = readEvents(files[0]!);
    assert.equal(events[0].fileVersion, 'brain.Event:2');

    // scalars: the same steps and values (as float32) as metrics.jsonl, throughput aside
    const got = scalarsOf(events);
    const want = expectedScalars(recs);
    const tags = [...got.keys()].filter((t) => t !== 'train/throughput').sort();
    assert.deepEqual(tags, [...want.keys()].sort());
    for (const [tag, series] of want)
      assert.deepEqual(
        got.get(tag),
        series.map(([s, v]) => [s, f32(v)]),
        tag,
      );
    assert.equal(recs.filter((x) => x.type === 'step').length, 6, '12 images, batches of 4, two epochs');
    assert.ok(got.get('lr/features')!.some(([, v]) => v === f32(0.005)));

    // histograms every 2 steps, of what trains: the head in phase 'head', everything after
    const histos = events.flatMap((e: Decoded) =>
      (e.summary?.value ?? []).filter((v: Decoded) => v.histo).map((v: Decoded) => `${e.step}:${v.tag}`),
    );
    const head = ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias'];
    const all = ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', ...head];
    const at = (step: number, names: string[]) => [
      ...names.map((n) => `${step}:grads/${n}`),
      ...names.map((n) => `${step}:weights/${n}`),
    ];
    assert.deepEqual(histos.sort(), [...at(2, head), ...at(4, all), ...at(6, all)].sort());
    const h = events
      .flatMap((e: Decoded) => e.summary?.value ?? [])
      .find((v: Decoded) => v.tag === 'weights/fc3.weight');
    assert.equal(h.histo.num, 3 * 84);

    // hyper-parameters: the recipe flattened, the session ended well
    const hp = events.flatMap((e: Decoded) => e.summary?.value ?? []).filter((v: Decoded) => v.hparams);
    assert.equal(hp.length, 2);
    const start = hp[0].hparams.sessionStartInfo.hparams;
    assert.equal(start['optimizer.lr'].numberValue, 0.05);
    assert.equal(start['model.name'].stringValue, 'cifar_net');
    assert.equal(start['phases.1.freeze'].stringValue, 'none');
    assert.equal(start['groups.0.lrScale'].numberValue, 0.1);
    assert.equal(start['output.dir'], undefined, 'where files go is no hyper-parameter');
    assert.equal(Object.keys(start).length, Object.keys(recipeHparams(r.recipe)).length);
    assert.equal(hp[1].hparams.sessionEndInfo.status, 'STATUS_SUCCESS');

    // metrics.csv: the same scalars, full precision
    const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
    const header = csv[0]!.split(',');
    assert.deepEqual(header.slice(0, 3), ['step', 'time', 'train/loss_step']);
    const rows = csv.slice(1).map((l) => l.split(','));
    for (const [tag, series] of want) {
      const col = header.indexOf(tag);
      assert.ok(col > 1, tag);
      const vals = rows.filter((row) => row[col] !== '').map((row) => [Number(row[0]), Number(row[col])]);
      assert.deepEqual(vals, series, tag);
    }
  });
});

test('a run that failed mid-epoch, resumed: TensorBoard drops the orphans, the CSV rewinds; overwrite replaces the files', async () => {
  await withTmp(async (dir) => {
    const root = await imageFolder(join(dir, 'data'), ['a', 'b'], { train: 4, val: 2 });
    const out = join(dir, 'run');
    // 2 steps per epoch, a step log every 3: the run fails after step 3 was logged; its checkpoint
    // is epoch 0's (step 2), in the middle of the first 3-step interval
    const boom = (p: { kind: string; step: number }) => {
      if (p.kind === 'step' && p.step === 3) throw new Error('boom');
    };
    await assert.rejects(runRecipe(tinyRecipe(root, out, [1, 1], 3), { onProgress: boom }), /boom/);
    assert.ok(readFileSync(join(out, 'metrics.csv'), 'utf8').includes('\n3,'), 'step 3 was logged');
    await runRecipe(tinyRecipe(root, out, [1, 1], 3), { resume: true });
    const recs = readJsonl(join(out, 'metrics.jsonl'));
    assert.equal(eventFiles(out).length, 2);
    const want = expectedScalars(recs);
    const got = scalarsIn(out);
    for (const [tag, series] of want)
      assert.deepEqual(
        got.get(tag),
        series.map(([s, v]) => [s, f32(v)]),
        tag,
      );
    const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length - 1, recs.filter((x) => x.type === 'step' || x.type === 'epoch').length);
    // the failed part's session ended in failure, the resumed part's well
    const ends = eventFiles(out)
      .flatMap(readEvents)
      .flatMap((e: Decoded) => e.summary?.value ?? [])
      .filter((v: Decoded) => v.hparams?.sessionEndInfo);
    assert.deepEqual(
      ends.map((v: Decoded) => v.hparams.sessionEndInfo.status),
      ['STATUS_FAILURE', 'STATUS_SUCCESS'],
    );

    await runRecipe(tinyRecipe(root, out, [1, 1]), { overwrite: true });
    assert.equal(eventFiles(out).length, 1);
    const again = readJsonl(join(out, 'metrics.jsonl'));
    assert.deepEqual(
      scalarsIn(out).get('train/loss_step'),
      expectedScalars(again)
        .get('train/loss_step')!
        .map(([s, v]) => [s, f32(v)]),
    );
    // a run without a log section over it leaves no event file or metrics.csv of the old one
    const plain = tinyRecipe(root, out, [1, 1]);
    delete plain.recipe.log;
    await runRecipe(plain, { overwrite: true });
    assert.deepEqual(eventFiles(out), []);
    assert.equal(existsSync(join(out, 'metrics.csv')), false);
  });
});

test("the recipe's log section is checked like the rest", () => {
  const base = { model: { name: 'cifar_net' }, data: { kind: 'fashion-mnist' }, optimizer: { type: 'SGD', lr: 0.1 } };
  const bad = (log: unknown) => () => recipeFrom({ ...base, phases: [{ epochs: 1 }], log });
  assert.throws(bad({ tensorboard: { histogramsEvery: 0 } }), /log\.tensorboard\.histogramsEvery/);
  assert.throws(bad({ tensorbord: true }), /log.*tensorbord/);
  assert.throws(bad({ csv: 'yes' }), /log\.csv.*expected true or false/);
  assert.doesNotThrow(bad({ tensorboard: true, csv: false }));
});
