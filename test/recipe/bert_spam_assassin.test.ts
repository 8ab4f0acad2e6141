// Seed 004 on SpamAssassin: the npm package's JSON mails become text,label CSVs (headers dropped,
// every 5th mail of a group held out), and the recipe trains BERT's last layer + classifier on them.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mailBody, spamAssassinCsv } from '../../examples/spam_assassin_csv.ts';
import { quick, recipe, textData, tinyBertCheckpoint, withTmp } from './_helpers.ts';
import { probeRun } from './_probe.ts';

test('mail bodies: headers dropped, whitespace collapsed, cut', () => {
  assert.equal(mailBody('From: a@b\nSubject: x\n\nHello   there,\n\n  friend'), 'Hello there, friend');
  assert.equal(mailBody('no headers at all'), 'no headers at all');
  assert.equal(mailBody(`H: v\n\n${'x'.repeat(50)}`, 10), 'x'.repeat(10));
});

test('seed 004 on SpamAssassin: CSVs from the package, then last layer + classifier train', async () => {
  await withTmp(async (dir) => {
    const pkg = join(dir, 'pkg');
    const words = { ham: 'the movie was very good', spam: 'the plot was very awful' };
    for (const [group, kind] of [
      ['easy-ham-1', 'ham'],
      ['spam-1', 'spam'],
    ] as const) {
      mkdirSync(join(pkg, 'data', group), { recursive: true });
      for (let i = 0; i < 10; i++)
        writeFileSync(
          join(pkg, 'data', group, `${String(i).padStart(5, '0')}.json`),
          JSON.stringify({ id: String(i), group, text: `From: x@y\nSubject: "hi"\n\n${words[kind]}, "${i}"` }),
        );
    }
    const csv = join(dir, 'csv');
    assert.deepEqual(spamAssassinCsv(pkg, csv), { train: 16, val: 4 });
    const train = readFileSync(join(csv, 'train.csv'), 'utf8').split('\n');
    assert.equal(train[0], 'text,label');
    assert.equal(train[1], '"the movie was very good, ""0""",ham');
    const text = textData(join(dir, 'text'));
    const { config, ckpt } = tinyBertCheckpoint(dir, text.vocabSize);
    const { epochs, steps } = await probeRun(
      recipe('004_bert_spam_assassin.yaml'),
      [
        ...quick(1, { train: 16, val: 4 }),
        `model.options={config: ${JSON.stringify(config)}}`,
        `model.pretrained.checkpoint=${ckpt}`,
        `data.train=${join(csv, 'train.csv')}`,
        `data.val=${join(csv, 'val.csv')}`,
        `data.tokenizer=${text.vocab}`,
        'scheduler.num_warmup_steps=2',
      ],
      join(dir, 'run'),
      {
        before(p) {
          assert.deepEqual(p.classes, ['ham', 'spam']);
          assert.equal(p.runner.optimizer.constructor.name, 'AdamW');
          assert.equal(p.runner.optimizer.paramGroups[0]!.lr, 0, 'linear warm-up starts at 0');
          assert.deepEqual(p.fit.clip, { norm: 1 });
        },
      },
    );
    const tr = epochs[0]!.trainable;
    assert.ok(
      !tr.some((n) => n.startsWith('bert.encoder.layer.0.')) && tr.some((n) => n.startsWith('bert.encoder.layer.1.')),
    );
    assert.ok(tr.some((n) => n.startsWith('classifier.')));
    assert.equal(steps, 4, '16 mails in batches of 4');
  });
});
