// `graft generate`: a Hugging Face directory and a run folder, greedy = the API's tokens, seeded
// sampling repeats, cached = uncached, batched prompts, stop texts, usage errors.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { finishedPrefix, run } from '../../src/cli/generate.ts';
import { run as predict } from '../../src/cli/predict.ts';
import { byteLevelBpeJson, TextTokenizer } from '../../src/data/tokenizer.ts';
import { generate, type LlamaForCausalLM, llama, toHfDir } from '../../src/models/index.ts';
import { manualSeed, noGrad, tensor } from '../../src/tensor/index.ts';
import { saveModel } from '../../src/train/index.ts';
import { capture } from '../_capture.ts';

const BPE = join(import.meta.dirname, '..', 'fixtures', 'data', 'bpe');
const tmp = mkdtempSync(join(tmpdir(), 'graft-generate-'));
const HF = join(tmp, 'hf');
const RUN = join(tmp, 'run');
const CONFIG = {
  model_type: 'llama',
  vocab_size: 266,
  hidden_size: 32,
  intermediate_size: 48,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 128,
  eos_token_id: 265,
};
let model: LlamaForCausalLM;
after(() => rmSync(tmp, { recursive: true, force: true }));

before(() => {
  manualSeed(5);
  model = llama(CONFIG);
  // larger weights than HF's init, so greedy decoding does not collapse onto one token
  noGrad(() => {
    for (const p of model.parameters()) if (p.ndim === 2) p.mul_(8);
  });
  model.eval();
  mkdirSync(HF);
  const vocab = JSON.parse(readFileSync(join(BPE, 'vocab.json'), 'utf8'));
  writeFileSync(
    join(HF, 'tokenizer.json'),
    JSON.stringify(byteLevelBpeJson(vocab, readFileSync(join(BPE, 'merges.txt'), 'utf8'))),
  );
  writeFileSync(join(HF, 'tokenizer_config.json'), JSON.stringify({ eos_token: 'z' }));
  toHfDir(model, HF, { tokenizerFrom: HF });
  mkdirSync(RUN);
  saveModel(RUN, model, { modelOptions: { config: CONFIG } });
  copyFileSync(join(HF, 'tokenizer.json'), join(RUN, 'tokenizer.json'));
});

type Result = { prompt: string; completion: string; tokens: number[] };
async function gen(dir: string, ...args: string[]): Promise<Result[]> {
  const r = await capture(() => run([dir, ...args, '--json']));
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as Result[];
}

describe('graft generate', () => {
  test('greedy from a Hugging Face directory = models.generate on the same ids; the run folder agrees', async () => {
    const tok = TextTokenizer.load(HF);
    const ids = tok.encode('hello world').ids;
    const eos = tok.tokenToId('z')!;
    const api = generate(model, tensor(BigInt64Array.from(ids, BigInt), { shape: [1, ids.length] }), {
      maxNewTokens: 12,
      eosTokenId: [eos, 265],
    })
      .toArray()
      .slice(ids.length);
    const [r] = await gen(HF, '--prompt', 'hello world', '--max-new-tokens', '12');
    assert.deepEqual(r!.tokens, finishedPrefix(api, new Set([eos, 265]), []));
    assert.ok(new Set(r!.tokens).size >= 4, `a degenerate completion: ${r!.tokens}`);
    assert.equal(r!.completion, tok.decode(r!.tokens, { skipSpecialTokens: true }));
    const [fromRun] = await gen(RUN, '--prompt', 'hello world', '--max-new-tokens', '12');
    assert.deepEqual(fromRun!.tokens, r!.tokens);
    const plain = await capture(() => run([HF, '--prompt', 'hello world', '--max-new-tokens', '12']));
    assert.equal(plain.out, `hello world${r!.completion}`);
    // generation_config.json's eos ids end a completion too
    const withGc = join(tmp, 'hf-gc');
    toHfDir(model, withGc, { tokenizerFrom: HF, generationConfig: { eos_token_id: [r!.tokens[2]!] } });
    const [cut] = await gen(withGc, '--prompt', 'hello world', '--max-new-tokens', '12');
    assert.deepEqual(cut!.tokens, r!.tokens.slice(0, r!.tokens.indexOf(r!.tokens[2]!) + 1));
  });

  test('seeded sampling repeats; --no-cache gives the same tokens; a batch = the prompts alone', async () => {
    const flags = ['--max-new-tokens', '10', '--temperature', '0.9', '--top-k', '30', '--top-p', '0.95'];
    const a = await gen(HF, '--prompt', 'the cat', ...flags, '--seed', '3');
    const b = await gen(HF, '--prompt', 'the cat', ...flags, '--seed', '3', '--no-cache');
    assert.deepEqual(a, b);
    const both = await gen(HF, '--prompt', 'a longer prompt here', '--prompt', 'hi', '--max-new-tokens', '6');
    const one = await gen(HF, '--prompt', 'hi', '--max-new-tokens', '6');
    assert.deepEqual(both[1]!.tokens, one[0]!.tokens);
    assert.equal(both.length, 2);
  });

  test('--stop ends the completion at the stop text', async () => {
    const [full] = await gen(HF, '--prompt', 'hello', '--max-new-tokens', '10', '--repetition-penalty', '1.3');
    assert.ok(full!.tokens.length >= 4);
    const tok = TextTokenizer.load(HF);
    const stopText = tok.decode(full!.tokens.slice(2, 3));
    const [cut] = await gen(
      HF,
      '--prompt',
      'hello',
      '--max-new-tokens',
      '10',
      '--repetition-penalty',
      '1.3',
      '--stop',
      stopText,
    );
    const stopIds = tok.encode(stopText, null, { addSpecialTokens: false }).ids;
    assert.deepEqual(cut!.tokens, finishedPrefix(full!.tokens, new Set(), [stopIds]));
    assert.ok(cut!.tokens.length <= 3);
  });

  test('graft predict RUN PROMPT... continues prompts like graft generate', async () => {
    const viaGenerate = await gen(RUN, '--prompt', 'hello', '--prompt', 'the cat');
    const r = await capture(() => predict([RUN, 'hello', 'the cat', '--json']));
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(JSON.parse(r.out), viaGenerate);
    assert.equal((await capture(() => predict([HF, 'hello', '--top-k', '3']))).code, 2);
  });

  test('usage errors give 2, a folder that is no causal LM gives 1', async () => {
    assert.equal((await capture(() => run([HF]))).code, 2);
    assert.equal((await capture(() => run([HF, '--prompt', 'x', '--top-p', '2']))).code, 2);
    assert.equal((await capture(() => run([join(tmp, 'none'), '--prompt', 'x']))).code, 2);
    const cls = join(tmp, 'cls');
    mkdirSync(cls);
    writeFileSync(
      join(cls, 'config.json'),
      JSON.stringify({
        format: 'graft-model',
        version: 1,
        architecture: 'resnet18',
        modelOptions: {},
        task: 'image-classification',
        weights: 'model.safetensors',
      }),
    );
    const r = await capture(() => run([cls, '--prompt', 'x']));
    assert.equal(r.code, 1);
    assert.match(r.err, /not a causal LM/);
  });
});
