// Hugging Face PEFT's LoRA adapter folder: adapter_config.json (LoraConfig, written as PEFT's
// save_pretrained does: sorted keys, indent 2, inference_mode true) + adapter_model.safetensors
// (metadata {"format": "pt"}) whose keys are the model's with a `base_model.model.` prefix and
// without the adapter name: `base_model.model.<module>.lora_A.weight`. adapter_model.bin (older
// PEFT) is read too. Key mapping between graft's and PEFT's names lives in src/finetune.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import { writeFileAtomic } from '../util/write.ts';
import { withFile } from './file.ts';
import { readPthZip } from './pth/torch_load.ts';
import { flattenTensors } from './py.ts';
import type { RawTensor } from './raw.ts';
import { readSafetensors, writeSafetensors } from './safetensors.ts';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const ADAPTER_WEIGHTS_BIN_NAME = 'adapter_model.bin';
/** PeftModel.base_model (LoraModel) . model (the transformers model) */
export const PEFT_PREFIX = 'base_model.model.';

export type LoraBias = 'none' | 'all' | 'lora_only';

/** LoraConfig as adapter_config.json holds it (PEFT's field names). */
export interface PeftLoraConfig {
  peft_type: 'LORA';
  task_type: string | null;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  /** a list (suffix match) or a regex string (full match) */
  target_modules: string[] | string | null;
  exclude_modules?: string[] | string | null;
  modules_to_save: string[] | null;
  bias: LoraBias;
  fan_in_fan_out: boolean;
  use_rslora: boolean;
  init_lora_weights: boolean | string;
  rank_pattern: Record<string, number>;
  alpha_pattern: Record<string, number>;
  layers_to_transform: number | number[] | null;
  layers_pattern: string | string[] | null;
  /** other keys of a file graft read, kept so a re-save does not drop them */
  [extra: string]: unknown;
}

/**
 * A full config with PEFT's defaults (r 8, lora_alpha 8, dropout 0, bias 'none'). The keys are those
 * PEFT has written since 0.7, so older and newer PEFT releases both load the file.
 */
export function peftLoraConfig(o: Partial<PeftLoraConfig> = {}): PeftLoraConfig {
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: null,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    loftq_config: {},
    lora_alpha: 8,
    lora_dropout: 0,
    megatron_config: null,
    megatron_core: 'megatron.core',
    modules_to_save: null,
    peft_type: 'LORA',
    r: 8,
    rank_pattern: {},
    revision: null,
    target_modules: null,
    task_type: null,
    use_rslora: false,
    ...o,
  };
}

/** PEFT's json.dumps(config, indent=2, sort_keys=True). */
export function adapterConfigText(c: PeftLoraConfig): string {
  const sortDeep = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]),
        )
      : v;
  // Python writes floats with a '.0': lora_dropout 0 is 0.0 in PEFT's files
  return JSON.stringify(sortDeep(c), null, 2).replace(/^( {2}"lora_dropout": )(-?\d+)(,?)$/m, '$1$2.0$3');
}

// features that change the maths or the layout; reading such an adapter as plain LoRA would be wrong
const UNSUPPORTED: [string, (v: unknown) => boolean, string][] = [
  ['use_dora', (v) => v === true, 'DoRA adapters'],
  ['lora_bias', (v) => v === true, 'LoRA with a bias on lora_B'],
  ['layer_replication', (v) => v != null, 'layer replication'],
  ['target_parameters', (v) => v != null && !(Array.isArray(v) && v.length === 0), 'target_parameters'],
  ['trainable_token_indices', (v) => v != null, 'trainable token indices'],
  ['alora_invocation_tokens', (v) => v != null, 'activated LoRA (aLoRA)'],
  ['use_qalora', (v) => v === true, 'QA-LoRA'],
];

const isStrList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isNumMap = (v: unknown): v is Record<string, number> =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number');

/** Checks a parsed adapter_config.json: a LoRA config graft can apply, with PEFT's defaults filled. */
export function parseAdapterConfig(json: unknown, file = ADAPTER_CONFIG_NAME): PeftLoraConfig {
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(file, reason, hint);
  };
  if (!json || typeof json !== 'object' || Array.isArray(json)) return fail('not a JSON object');
  const j = json as Record<string, unknown>;
  if (j.peft_type !== 'LORA')
    fail(
      `peft_type is ${JSON.stringify(j.peft_type)}; graft reads LoRA adapters (peft_type "LORA")`,
      'only LoRA adapters can be loaded',
    );
  for (const [k, bad, what] of UNSUPPORTED)
    if (bad(j[k])) fail(`${k}: ${what} are not supported`, 'train a plain LoRA adapter, or merge it in PEFT first');
  const c = peftLoraConfig(j as Partial<PeftLoraConfig>);
  if (!Number.isInteger(c.r) || c.r < 1) fail(`r must be an integer >= 1, got ${JSON.stringify(c.r)}`);
  if (typeof c.lora_alpha !== 'number') fail(`lora_alpha must be a number, got ${JSON.stringify(c.lora_alpha)}`);
  if (typeof c.lora_dropout !== 'number' || c.lora_dropout < 0 || c.lora_dropout > 1)
    fail(`lora_dropout must be a number in [0, 1], got ${JSON.stringify(c.lora_dropout)}`);
  if (!(typeof c.target_modules === 'string' || isStrList(c.target_modules)))
    fail(`target_modules must be a list of module names or a regex string, got ${JSON.stringify(c.target_modules)}`);
  if (c.modules_to_save !== null && !isStrList(c.modules_to_save))
    fail(`modules_to_save must be a list of module names or null, got ${JSON.stringify(c.modules_to_save)}`);
  if (!['none', 'all', 'lora_only'].includes(c.bias))
    fail(`bias must be 'none', 'all' or 'lora_only', got ${JSON.stringify(c.bias)}`);
  if (!isNumMap(c.rank_pattern ?? {}) || !isNumMap(c.alpha_pattern ?? {}))
    fail('rank_pattern and alpha_pattern must map patterns to numbers');
  c.rank_pattern ??= {};
  c.alpha_pattern ??= {};
  return c;
}

export interface AdapterFiles {
  config: PeftLoraConfig;
  /** PEFT's keys (`base_model.model.<module>.lora_A.weight`, ...), file order */
  tensors: Map<string, RawTensor>;
  /** the weights file read */
  weightsFile: string;
}

/** Reads a PEFT adapter folder (adapter_config.json + adapter_model.safetensors, or .bin). */
export function readAdapter(dir: string): AdapterFiles {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'not a folder', 'give the adapter folder holding adapter_config.json');
  const cfgFile = join(dir, ADAPTER_CONFIG_NAME);
  if (!existsSync(cfgFile))
    throw new CheckpointError(dir, `no ${ADAPTER_CONFIG_NAME} here`, 'is this a PEFT adapter folder?');
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(cfgFile, 'utf8'));
  } catch (e) {
    throw new CheckpointError(cfgFile, `not valid JSON: ${(e as Error).message}`);
  }
  const config = parseAdapterConfig(json, cfgFile);
  const st = join(dir, ADAPTER_WEIGHTS_NAME);
  const bin = join(dir, ADAPTER_WEIGHTS_BIN_NAME);
  if (existsSync(st)) return { config, tensors: readSafetensors(st).tensors, weightsFile: st };
  if (existsSync(bin)) {
    const tree = withFile(bin, (src) => readPthZip(src, {}));
    return { config, tensors: flattenTensors(tree), weightsFile: bin };
  }
  throw new CheckpointError(dir, `no ${ADAPTER_WEIGHTS_NAME} (or ${ADAPTER_WEIGHTS_BIN_NAME}) next to the config`);
}

/** Writes a PEFT adapter folder (created if missing); each file atomically. */
export function writeAdapter(dir: string, config: PeftLoraConfig, tensors: Map<string, RawTensor>): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, ADAPTER_WEIGHTS_NAME), tensors, { format: 'pt' });
  writeFileAtomic(join(dir, ADAPTER_CONFIG_NAME), adapterConfigText(config));
}
