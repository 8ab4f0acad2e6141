// task: causal-lm from a recipe: a tiny decoder trains on text and chat files, reports
// perplexity, writes its tokenizer (and with lora: only the adapters change and adapter/ is
// written); the loss is averaged over tokens across accumulation steps exactly as one big batch.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { causalLMDataset, TextTokenizer, trainByteLevelBpe } from '../../src/data/index.ts';
import { RecipeError } from '../../src/errors.ts';
import { readSafetensors } from '../../src/io/index.ts';
import * as models from '../../src/models/index.ts';
import {
  type BuiltData,
  buildRun,
  dataChanges,
  dataFingerprint,
  evaluateRun,
  formatEval,
  loadRecipe,
  planRecipe,
  type Recipe,
  recipeFrom,
  runRecipe,
} from '../../src/recipe/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';
import { RECIPES, readJsonl, withTmp } from './_helpers.ts';

const SENTENCES = [
  'the cat sat on the mat',
  'a dog ran in the park',
  'the bird sang at dawn',
  'my cat and your dog',
  'rain fell on the roof',
  'the sun rose over the hill',
];

/** corpus.txt (paragraphs), chat.jsonl (replies of different lengths), tokenizer.json + config. */
function lmData(dir: string) {
  const tok = trainByteLevelBpe(SENTENCES, { vocabSize: 300 });
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok.json));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>' }));
  writeFileSync(join(dir, 'corpus.txt'), Array.from({ length: 6 }, () => SENTENCES.join('\n\n')).join('\n\n'));
  const rows = SENTENCES.map((s, i) =>
    JSON.stringify({
      messages: [
        { role: 'user', content: `say ${i}` },
        {
          role: 'assistant',
          content: s
            .split(' ')
            .slice(0, 1 + i)
            .join(' '),
        },
      ],
    }),
  );
  writeFileSync(join(dir, 'chat.jsonl'), rows.slice(0, 4).join('\n'));
  return { tokenizer: dir, corpus: join(dir, 'corpus.txt'), chat: join(dir, 'chat.jsonl'), vocab: tok.vocabSize };
}

const llama = (vocab: number) => ({
  vocab_size: vocab,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
});

function lmRecipe(d: ReturnType<typeof lmData>, out: string, extra: Partial<Recipe> = {}): Recipe {
  return {
    name: 'lm',
    task: 'causal-lm',
    model: { name: 'llama', options: { config: llama(d.vocab) } },
    data: {
      kind: 'causal-lm',
      train: d.corpus,
      tokenizer: d.tokenizer,
      split: 'paragraph',
      blockSize: 16,
      valRatio: 0.25,
      batchSize: 4,
    },
    optimizer: { type: 'AdamW', lr: 1e-2 },
    phases: [{ epochs: 2 }],
    train: { threads: 2, report: false, checkpoint: false },
    output: { dir: out },
    ...extra,
  } as Recipe;
}

test('a causal-LM recipe trains, logs loss and perplexity per token, and writes its tokenizer', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const out = join(dir, 'run');
    const r = await runRecipe(
      lmRecipe(d, out, {
        train: { threads: 2, report: false, checkpoint: false, monitor: 'eval.perplexity' },
      } as Partial<Recipe>),
    );
    const m = r.metrics;
    assert.ok(Math.abs(m['eval.perplexity']! - Math.exp(m['eval.loss']!)) < 1e-9 * m['eval.perplexity']!);
    assert.ok(m['train.perplexity']! > 1);
    assert.equal(m['eval.accuracy'], undefined, 'no class metrics');
    const epochs = readJsonl(join(out, 'metrics.jsonl')).filter((e) => e.type === 'epoch');
    assert.ok(epochs[1].eval.loss < epochs[0].eval.loss, 'it learns the corpus');
    assert.ok(existsSync(join(out, 'tokenizer.json')) && existsSync(join(out, 'model.safetensors')));
    assert.equal(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')).eos_token, '<|endoftext|>');
  });
});

test('recipe checks: perplexity only for causal-lm, task and data kind agree, a tokenizer is needed', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const base = lmRecipe(d, join(dir, 'x'));
    const bad = (r: unknown, re: RegExp) =>
      assert.throws(
        () => buildRun(recipeFrom(r as Recipe)),
        (e: unknown) => e instanceof Error && re.test(e.message),
      );
    bad({ ...base, train: { monitor: 'eval.perplexty' } }, /did you mean 'eval.perplexity'/);
    bad({ ...base, train: { monitor: 'eval.accuracy' } }, /unknown metric 'eval.accuracy'.*eval.perplexity/);
    bad({ ...base, data: { ...base.data, kind: 'text' } }, /data.kind.*task causal-lm trains on text/);
    bad({ ...base, task: undefined }, /task: data.kind causal-lm is next-token data: set task: causal-lm/);
    bad(
      {
        ...base,
        model: { ...base.model, name: 'gpt2' },
        data: { ...base.data, kind: 'text' },
        task: 'classification',
        train: { gradientCheckpointing: true },
      },
      /gradientCheckpointing and fp32Head apply to task causal-lm/,
    );
    const noTok = { ...base, data: { ...base.data, tokenizer: undefined } };
    assert.throws(
      () => buildRun(recipeFrom(noTok as Recipe)),
      (e: unknown) => e instanceof RecipeError && /needs a tokenizer/.test(e.message),
    );
  });
});

test('accumulation: 4 micro-batches of 1 give the update of one batch of 4 (loss over all their tokens)', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const run = async (batchSize: number, accumulate: number, name: string) => {
      const out = join(dir, name);
      await runRecipe(
        lmRecipe(d, out, {
          data: {
            kind: 'causal-lm',
            train: d.chat,
            tokenizer: d.tokenizer,
            chatTemplate: 'simple',
            batchSize,
            shuffle: false,
          },
          optimizer: { type: 'SGD', lr: 0.5 },
          phases: [{ steps: 1 }],
          train: { threads: 2, report: false, checkpoint: false, accumulate },
        } as Partial<Recipe>),
      );
      return readSafetensors(join(out, 'model.safetensors')).tensors;
    };
    const one = await run(4, 1, 'one');
    const four = await run(1, 4, 'four');
    let maxDiff = 0;
    let moved = 0;
    const init = await run(4, 1, 'again');
    for (const [k, t] of one) {
      const a = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
      const b = four.get(k)!;
      const bb = new Float32Array(b.data.buffer, b.data.byteOffset, b.data.byteLength / 4);
      a.forEach((v, i) => {
        maxDiff = Math.max(maxDiff, Math.abs(v - bb[i]!));
      });
      const c = init.get(k)!;
      const cc = new Float32Array(c.data.buffer, c.data.byteOffset, c.data.byteLength / 4);
      if (a.some((v, i) => v !== cc[i])) moved++;
    }
    assert.equal(moved, 0, 'runs repeat exactly');
    assert.ok(maxDiff < 2e-6, `accumulated update differs by ${maxDiff}`);
  });
});

test("lora: only the adapters train and adapter/ holds them in PEFT's layout; the plan shows the freeze", async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const out = join(dir, 'lora');
    const r = lmRecipe(d, out, { lora: { r: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] } } as Partial<Recipe>);
    const plan = planRecipe(recipeFrom(r));
    assert.ok(plan.ok, plan.problems.join('; '));
    assert.match(plan.text, /trainable: 448 of [\d,]+ parameters/, 'q: 4 x (16 + 16), v: 4 x (16 + 8), in 2 layers');
    const before = buildRun(recipeFrom(r));
    const initial = new Map([...before.model.stateDict()].map(([k, t]) => [k, [...(t.data() as Float32Array)]]));
    const trainable = [...before.model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([k]) => k);
    assert.equal(before.lora?.targets.length, 4, 'q_proj and v_proj of 2 layers');
    assert.ok(trainable.length === 8 && trainable.every((k) => /lora_[AB]/.test(k)), trainable.join(', '));
    await before.dispose();
    await runRecipe(r);
    const saved = readSafetensors(join(out, 'model.safetensors')).tensors;
    let changed = 0;
    for (const [k, v] of initial) {
      const t = saved.get(k);
      assert.ok(t, `${k} exported`);
      const now = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
      const same = v.every((x, i) => x === now[i]);
      if (/lora_B/.test(k)) assert.ok(!same, `${k} trained`);
      else if (!/lora_/.test(k)) assert.ok(same, `${k} is frozen`);
      if (!same) changed++;
    }
    assert.ok(changed >= 4);
    // graft eval on the run folder: the exported weights load into the model with its adapters again
    const ev = await evaluateRun(out);
    const last = readJsonl(join(out, 'metrics.jsonl'))
      .filter((e) => e.type === 'epoch')
      .pop();
    assert.ok(Math.abs(ev.metrics.loss - last.eval.loss) < 1e-5, `${ev.metrics.loss} vs ${last.eval.loss}`);
    assert.match(formatEval(ev), /perplexity \d/);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter', 'adapter_config.json'), 'utf8'));
    assert.equal(cfg.r, 4);
    assert.equal(cfg.lora_alpha, 8);
    const keys = [...readSafetensors(join(out, 'adapter', 'adapter_model.safetensors')).tensors.keys()];
    assert.ok(keys.includes('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight'), keys.join(', '));
  });
});

test('a Hugging Face folder as the model: sizes and tokenizer from it, bf16 weights with an fp32 head', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const hf = join(dir, 'hf');
    manualSeed(3);
    const src = models.llama(llama(d.vocab));
    models.toHfDir(src, hf, { tokenizerFrom: d.tokenizer, maxShardSize: '10KB' });
    src.dispose();
    const r = lmRecipe(d, join(dir, 'run'), {
      model: { name: 'llama', pretrained: hf, options: { dtype: 'bfloat16' } },
      phases: [{ steps: 1 }],
      train: { threads: 2, report: false, checkpoint: false, amp: 'bf16', gradientCheckpointing: true },
    } as Partial<Recipe>);
    r.data = { ...r.data, tokenizer: undefined };
    const p = buildRun(recipeFrom(r));
    const m = p.model as models.LlamaForCausalLM;
    assert.equal(m.model.layers.at(0).self_attn.q_proj.weight.dtype, 'bfloat16');
    assert.equal(m.lm_head.weight.dtype, 'float32', 'the untied head is kept in fp32');
    await p.dispose();
    const res = await runRecipe(r);
    assert.ok(Number.isFinite(res.metrics['train.loss']!));
    // the run folder rebuilds from its config.json (the folder's config kept there) for graft eval
    const ev = await evaluateRun(join(dir, 'run'));
    assert.ok(Math.abs(ev.metrics.loss - res.metrics['eval.loss']!) < 0.05, 'bf16 run vs fp32 rebuild');
    const wrong = { ...r, model: { ...r.model, name: 'gpt2' } };
    assert.throws(() => buildRun(recipeFrom(wrong)), /'gpt2' but .* holds a llama model/);
  });
});

test('the shipped recipes run: llm_lora.yaml and llm_instruct.yaml on a tiny Llama folder', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const hf = join(dir, 'hf');
    manualSeed(5);
    const src = models.llama(llama(d.vocab));
    models.toHfDir(src, hf, { tokenizerFrom: d.tokenizer });
    src.dispose();
    const quick = [
      `model.pretrained=${hf}`,
      'phases[0].epochs=1',
      'train.threads=2',
      'train.report=false',
      'train.checkpoint=false',
    ];
    const lora = loadRecipe(join(RECIPES, 'llm_lora.yaml'), {
      set: [
        ...quick,
        `data.train=${d.corpus}`,
        `data.val=${d.corpus}`,
        'data.blockSize=16',
        'data.subset={train: 8, val: 4}',
        `output.dir=${join(dir, 'a')}`,
      ],
    });
    const a = await runRecipe(lora);
    assert.ok(Number.isFinite(a.metrics['eval.perplexity']!));
    assert.ok(existsSync(join(dir, 'a', 'adapter', 'adapter_model.safetensors')));
    const instruct = loadRecipe(join(RECIPES, 'llm_instruct.yaml'), {
      set: [
        ...quick,
        'model.name=llama',
        `data.train=${d.chat}`,
        `data.val=${d.chat}`,
        'data.chatTemplate=simple',
        'train.accumulate=1',
        `output.dir=${join(dir, 'b')}`,
      ],
    });
    const b = await runRecipe(instruct);
    assert.ok(Number.isFinite(b.metrics['eval.loss']!));
  });
});

test('a resume is refused on other text of the same size (the fingerprint hashes the tokens)', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const tok = TextTokenizer.load(d.tokenizer);
    const fp = (text: string) => {
      writeFileSync(join(dir, 'x.txt'), text);
      const train = causalLMDataset(join(dir, 'x.txt'), tok, { blockSize: 8 });
      return dataFingerprint({ classes: [], sets: { train } } as unknown as BuiltData);
    };
    const a = fp('the cat sat on the mat');
    assert.deepEqual(dataChanges(a, fp('the cat sat on the mat')), []);
    assert.match(dataChanges(a, fp('the mat sat on the cat')).join(), /the same count, but other samples/);
  });
});

test('GPT-2 from the registry: tied head, bf16 autocast, checkpointing and accumulation together', async () => {
  await withTmp(async (dir) => {
    const d = lmData(dir);
    const gpt2 = { vocab_size: d.vocab, n_positions: 32, n_embd: 16, n_layer: 2, n_head: 2 };
    const r = await runRecipe(
      lmRecipe(d, join(dir, 'gpt2'), {
        model: { name: 'gpt2', options: { config: gpt2 } },
        train: {
          threads: 2,
          report: false,
          checkpoint: false,
          amp: 'bf16',
          gradientCheckpointing: true,
          accumulate: 2,
        },
      } as Partial<Recipe>),
    );
    const epochs = readJsonl(join(dir, 'gpt2', 'metrics.jsonl')).filter((e) => e.type === 'epoch');
    assert.ok(epochs[1].eval.loss < epochs[0].eval.loss, 'it learns');
    assert.ok(
      Math.abs(r.metrics['eval.perplexity']! - Math.exp(r.metrics['eval.loss']!)) <
        1e-6 * r.metrics['eval.perplexity']!,
    );
  });
});
