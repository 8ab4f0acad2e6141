// hf:org/name for a causal LM: a tiny Llama saved as a sharded Hugging Face folder is served in
// the Hub's layout; the recipe naming it (no tokenizer of its own: the repository's) trains
// exactly as the same folder given by path.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { trainByteLevelBpe } from '../../src/data/index.ts';
import * as models from '../../src/models/index.ts';
import { type Recipe, recipeFrom, runRecipe } from '../../src/recipe/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { readJsonl } from '../recipe/_helpers.ts';
import { TestServer } from './_server.ts';

const COMMIT = 'e'.repeat(40);
const SENTENCES = ['the cat sat on the mat', 'a dog ran in the park', 'the bird sang at dawn', 'rain fell on the roof'];
const server = new TestServer();
let dir: string;
let folder: string;

before(async () => {
  await server.start();
  dir = mkdtempSync(join(tmpdir(), 'graft-hf-llm-'));
  process.env.HF_ENDPOINT = server.url;
  process.env.HF_HOME = join(dir, 'hf');
  process.env.HF_HUB_DISABLE_PROGRESS_BARS = '1';
  delete process.env.HF_HUB_OFFLINE;
  const tokDir = join(dir, 'tok');
  mkdirSync(tokDir);
  const tok = trainByteLevelBpe(SENTENCES, { vocabSize: 280 });
  writeFileSync(join(tokDir, 'tokenizer.json'), JSON.stringify(tok.json));
  writeFileSync(join(tokDir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>' }));
  manualSeed(5);
  const src = models.llama({
    vocab_size: tok.vocabSize,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  });
  folder = join(dir, 'folder');
  models.toHfDir(src, folder, { tokenizerFrom: tokDir, maxShardSize: '10KB' });
  src.dispose();
  const files: Record<string, Buffer> = {};
  for (const n of readdirSync(folder)) files[n] = readFileSync(join(folder, n));
  server.repos.set('org/tiny-llama', { commits: { [COMMIT]: files }, refs: { main: COMMIT } });
  writeFileSync(join(dir, 'corpus.txt'), Array.from({ length: 4 }, () => SENTENCES.join('\n\n')).join('\n\n'));
});
after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const lm = (pretrained: string, out: string) =>
  recipeFrom({
    name: 'lm',
    task: 'causal-lm',
    model: { name: 'llama', pretrained },
    data: {
      kind: 'causal-lm',
      train: join(dir, 'corpus.txt'),
      split: 'paragraph',
      blockSize: 16,
      valRatio: 0.25,
      batchSize: 4,
    },
    optimizer: { type: 'AdamW', lr: 1e-2 },
    phases: [{ epochs: 1 }],
    train: { threads: 2, report: false, checkpoint: false, seed: 3 },
    output: { dir: join(dir, out) },
  } as Recipe);

test('hf:org/name trains a sharded causal LM with its own tokenizer, as the same folder by path', async () => {
  assert.ok(
    readdirSync(folder).some((n) => n === 'model.safetensors.index.json'),
    'the folder is sharded',
  );
  const a = await runRecipe(lm('hf:org/tiny-llama', 'a'));
  const snapshot = join(dir, 'hf', 'hub', 'models--org--tiny-llama', 'snapshots', COMMIT);
  const fetched = readdirSync(snapshot).sort();
  assert.ok(fetched.includes('tokenizer.json') && fetched.includes('config.json'), fetched.join());
  assert.ok(fetched.filter((n) => /^model-\d+-of-\d+\.safetensors$/.test(n)).length > 1, fetched.join());
  const b = await runRecipe(lm(folder, 'b'));
  assert.deepEqual(a.metrics, b.metrics);
  const epochs = (d: string) =>
    readJsonl(join(dir, d, 'metrics.jsonl'))
      .filter((r) => r.type === 'epoch')
      .map((r) => ({ train: r.train, eval: r.eval }));
  assert.ok(Number.isFinite(a.metrics['train.loss']!));
  assert.deepEqual(epochs('a'), epochs('b'));
});
