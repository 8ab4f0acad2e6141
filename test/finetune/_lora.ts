// Shared pieces of the LoRA tests: the tiny BERT / GPT-2 with their fixture weights, and the
// PEFT-layout adapters written by scripts/fixtures/lora_fixtures.py.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BertForSequenceClassification } from '../../src/models/bert.ts';
import { GPT2LMHeadModel } from '../../src/models/gpt2.ts';
import { LlamaForCausalLM } from '../../src/models/llama.ts';
import type { Tensor } from '../../src/tensor/index.ts';
import { FIXTURES, readJson, readTensors } from '../models/_fixture.ts';
import { readSafetensorsFile } from '../models/_st.ts';

export const LORA_FIXTURES = join(FIXTURES, '..', 'lora');
const meta = readJson('transformers.json') as {
  bert: { config: Record<string, unknown> };
  gpt2: { config: Record<string, unknown> };
};
export const BERT_CONFIG = meta.bert.config;
export const GPT2_CONFIG = meta.gpt2.config;

/** The tiny BertForSequenceClassification with the fixture's base weights, in eval mode. */
export function tinyBert(): BertForSequenceClassification {
  const m = BertForSequenceClassification.fromConfig(BERT_CONFIG);
  m.loadStateDict(readTensors('bert_tiny.safetensors'));
  return m.eval();
}

/** The tiny GPT2LMHeadModel (tied head) with the fixture's base weights, in eval mode. */
export function tinyGpt2(): GPT2LMHeadModel {
  const m = GPT2LMHeadModel.fromConfig(GPT2_CONFIG);
  m.loadStateDict(readTensors('gpt2_tiny.safetensors'));
  return m.eval();
}

/** The Llama of the llama_all case (GQA, llama3 rope scaling) with its base weights, in eval mode. */
export function tinyLlama(): LlamaForCausalLM {
  const { config } = JSON.parse(readFileSync(join(caseDir('llama_all'), 'peft.json'), 'utf8'));
  const m = LlamaForCausalLM.fromConfig(config);
  m.loadStateDict(readSafetensorsFile(join(caseDir('llama_all'), 'base.safetensors')));
  return m.eval();
}

export const caseDir = (name: string): string => join(LORA_FIXTURES, name);
export const caseIo = (name: string): Map<string, Tensor> => readSafetensorsFile(join(caseDir(name), 'io.safetensors'));
export const casePeft = (name: string): { saved: [string, number[]][]; trainable: number; total: number } =>
  JSON.parse(readFileSync(join(caseDir(name), 'peft.json'), 'utf8'));
export const caseConfig = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(caseDir(name), 'adapter_config.json'), 'utf8'));

/** max |a - b| */
export const maxDiff = (a: Tensor, b: Tensor): number => a.sub(b).abs().max().item() as number;
