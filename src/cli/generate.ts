// `graft generate RUN_OR_DIR --prompt TEXT...`: continues prompts with a causal LM from a run folder
// (config.json + model.safetensors + tokenizer.json) or a Hugging Face model directory.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TextTokenizer } from '../data/index.ts';
import { CheckpointError } from '../errors.ts';
import { isHfDir } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { type DType, isDType, noGrad, type Tensor, tensor } from '../tensor/index.ts';
import { loadModel, readModelConfig } from '../train/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { GENERATE_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  prompt: { type: 'string', multiple: true },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  stop: { type: 'string', multiple: true },
  greedy: { type: 'boolean' },
  'no-cache': { type: 'boolean' },
  dtype: { type: 'string' },
  json: { type: 'boolean' },
} as const;

function num(v: string | undefined, flag: string, ok: (x: number) => boolean, want: string): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !ok(x)) throw new UsageError(`${flag} needs ${want}, got '${v}'`);
  return x;
}

/** The model and tokenizer of a Hugging Face directory or a graft run folder. */
export function loadCausalLM(
  dir: string,
  dtype?: DType,
): { model: Module; tokenizer: TextTokenizer; eosTokenIds: number[] } {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`no such folder: ${dir} (give a run folder or a Hugging Face model directory)`);
  if (isHfDir(dir)) {
    const { model, dir: d } = models.loadHfModel(dir, { dtype });
    // generation_config.json's eos ids (Llama 3 instruct models end turns with a second one)
    const eos = d.generationConfig?.eos_token_id;
    const eosTokenIds = (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => Number.isInteger(x));
    return { model, tokenizer: TextTokenizer.load(dir), eosTokenIds };
  }
  const config = readModelConfig(dir);
  const task = config.task ?? (config.architecture ? models.getMeta(config.architecture).task : undefined);
  if (task !== 'causal-lm')
    throw new CheckpointError(
      join(dir, 'config.json'),
      `the run's model (${config.architecture ?? 'built by hand'}) is ${task ? `a ${task} model` : 'of no known task'}, not a causal LM`,
      'graft predict classifies with it',
    );
  const tokDir = existsSync(join(dir, 'tokenizer.json'))
    ? dir
    : ((config.preprocessing?.tokenizer as { path?: string } | undefined)?.path ?? undefined);
  if (!tokDir)
    throw new CheckpointError(
      dir,
      'no tokenizer.json in the run folder',
      'copy the tokenizer the run trained with here',
    );
  const { model } = loadModel(dir);
  if (dtype) model.to(dtype);
  return { model, tokenizer: TextTokenizer.load(tokDir), eosTokenIds: [] };
}

export function run(args: string[]): Promise<number> {
  return runCommand('generate', USAGE, () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    if (positionals.length !== 1)
      throw new UsageError(positionals.length ? 'give one RUN_OR_DIR' : 'missing RUN_OR_DIR');
    const prompts = v.prompt ?? [];
    if (!prompts.length) throw new UsageError('give at least one --prompt TEXT');
    const temperature = num(v.temperature, '--temperature', (x) => x > 0, 'a number > 0');
    const topK = intFlag(v['top-k'], '--top-k');
    const topP = num(v['top-p'], '--top-p', (x) => x > 0 && x <= 1, 'a number in (0, 1]');
    const repetitionPenalty = num(v['repetition-penalty'], '--repetition-penalty', (x) => x > 0, 'a number > 0');
    const seed = intFlag(v.seed, '--seed', 0);
    const maxNewTokens = intFlag(v['max-new-tokens'], '--max-new-tokens', 0) ?? 50;
    if (v.dtype !== undefined && !(isDType(v.dtype) && ['float32', 'bfloat16', 'float16'].includes(v.dtype)))
      throw new UsageError(`--dtype needs float32, bfloat16 or float16, got '${v.dtype}'`);
    // any sampling flag samples; --greedy (or none of them) decodes greedily
    const doSample = !v.greedy && [temperature, topK, topP, seed].some((x) => x !== undefined);
    const { model, tokenizer, eosTokenIds } = loadCausalLM(positionals[0]!, v.dtype as DType | undefined);
    const enc = tokenizer.encodeBatch(prompts, null, { paddingSide: 'left', truncation: false });
    const [B, L] = enc.shape;
    const ids = tensor(enc.inputIds, { shape: [B, L] });
    const attentionMask = tensor(enc.attentionMask, { shape: [B, L] });
    const eos = new Set<number>(eosTokenIds);
    if (tokenizer.eosId !== undefined) eos.add(tokenizer.eosId);
    if (model instanceof models.LlamaForCausalLM) for (const e of model.config.eosTokenId) eos.add(e);
    const stopSequences = (v.stop ?? []).map((s) => tokenizer.encode(s, null, { addSpecialTokens: false }).ids);
    if (stopSequences.some((s) => !s.length)) throw new UsageError('--stop needs a non-empty text');
    const out: Tensor = noGrad(() =>
      models.generate(model, ids, {
        attentionMask,
        maxNewTokens,
        doSample,
        temperature,
        topK,
        topP,
        repetitionPenalty,
        seed,
        eosTokenId: [...eos],
        padTokenId: tokenizer.padId,
        stopSequences,
        useCache: !v['no-cache'],
      }),
    );
    const flat = out.toArray();
    const width = out.size(1);
    const results = prompts.map((prompt, b) => {
      const kept = finishedPrefix(flat.slice(b * width + L, (b + 1) * width), eos, stopSequences);
      return { prompt, completion: tokenizer.decode(kept, { skipSpecialTokens: true }), tokens: kept };
    });
    if (v.json) console.log(JSON.stringify(results, null, 1));
    else for (const r of results) console.log(`${r.prompt}${r.completion}`);
    return 0;
  });
}

/** The generated tokens up to and including the eos or stop sequence that finished the row (padding follows it). */
export function finishedPrefix(tokens: number[], eos: Set<number>, stops: number[][]): number[] {
  for (let i = 0; i < tokens.length; i++) {
    if (eos.has(tokens[i]!)) return tokens.slice(0, i + 1);
    const upTo = tokens.slice(0, i + 1);
    if (stops.some((s) => s.length <= upTo.length && s.every((t, j) => upTo[upTo.length - s.length + j] === t)))
      return upTo;
  }
  return tokens;
}
