// Which modules get a LoRA adapter, with PEFT's matching rules (tuners_utils.check_target_module_exists):
// a list matches a module name exactly or as a dotted suffix ('q_proj' matches
// 'model.layers.0.self_attn.q_proj'); a string is a regular expression that must match the
// whole name; modules_to_save match by plain suffix and are never targeted themselves.
import { ArgumentError } from '../errors.ts';

/** PEFT's shorthand for every linear layer except the output layer. */
export const ALL_LINEAR = 'all-linear';

/** target_modules: names (suffix match), a regex string / RegExp (full match), or 'all-linear'. */
export type TargetModules = readonly string[] | string | RegExp;

export interface MatchRules {
  targetModules: TargetModules;
  excludeModules?: TargetModules;
  modulesToSave?: readonly string[];
  /** only these layer indices (PEFT's layers_to_transform; list targets only) */
  layersToTransform?: number | readonly number[];
  /** the name of the layer list ('layers', 'h', 'layer'); default: the first numbered segment */
  layersPattern?: string | readonly string[];
}

/** PEFT's defaults (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) by model family. */
export const DEFAULT_TARGET_MODULES: Readonly<Record<string, readonly string[]>> = {
  bert: ['query', 'value'],
  roberta: ['query', 'value'],
  gpt2: ['c_attn'],
  llama: ['q_proj', 'v_proj'],
  mistral: ['q_proj', 'v_proj'],
  qwen2: ['q_proj', 'v_proj'],
  gemma: ['q_proj', 'v_proj'],
  baichuan: ['W_pack'],
};

/** Python's re.fullmatch for a pattern string (JS syntax; the common subset is the same). */
export function fullMatch(pattern: string | RegExp, key: string): boolean {
  const src = typeof pattern === 'string' ? pattern : pattern.source;
  const flags = typeof pattern === 'string' ? '' : pattern.flags.replace(/[gy]/g, '');
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${src})$`, flags);
  } catch (e) {
    throw new ArgumentError(`target_modules regex '${src}' is invalid: ${(e as Error).message}`);
  }
  return re.test(key);
}

const isPattern = (t: TargetModules): t is string | RegExp => typeof t === 'string' || t instanceof RegExp;

function listMatch(list: readonly string[], key: string): boolean {
  return list.some((t) => key === t || key.endsWith(`.${t}`));
}

/** PEFT's modules_to_save test: a plain suffix of the module name (no dot boundary). */
export function isModuleToSave(modulesToSave: readonly string[] | undefined, key: string): boolean {
  return (modulesToSave ?? []).some((m) => key.endsWith(m));
}

// modules_to_save are never targeted: `(^|.*\.)m($|\..*)`
function underModuleToSave(modulesToSave: readonly string[] | undefined, key: string): boolean {
  return (modulesToSave ?? []).some(
    (m) => key === m || key.startsWith(`${m}.`) || key.includes(`.${m}.`) || key.endsWith(`.${m}`),
  );
}

function layerIndexOf(key: string, pattern: MatchRules['layersPattern']): number | undefined {
  const pats = pattern === undefined ? [] : typeof pattern === 'string' ? [pattern] : [...pattern];
  if (pats.length === 0) {
    const m = /^.*?\.[^.]*\.(\d+)\./.exec(key);
    return m ? Number(m[1]) : undefined;
  }
  for (const p of pats) {
    const m = new RegExp(`^.*?\\.${p}\\.(\\d+)\\.`).exec(key);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** True when the module named `key` is a LoRA target under PEFT's rules ('all-linear' is resolved by the caller). */
export function isTargetModule(rules: MatchRules, key: string): boolean {
  const ex = rules.excludeModules;
  if (ex !== undefined && (isPattern(ex) ? fullMatch(ex, key) : listMatch(ex, key))) return false;
  if (underModuleToSave(rules.modulesToSave, key)) return false;
  const t = rules.targetModules;
  if (isPattern(t)) return fullMatch(t, key);
  if (!listMatch(t, key)) return false;
  const layers = rules.layersToTransform;
  if (layers === undefined || (Array.isArray(layers) && layers.length === 0)) return true;
  const idx = layerIndexOf(key, rules.layersPattern);
  if (idx === undefined) return false;
  return typeof layers === 'number' ? idx === layers : (layers as readonly number[]).includes(idx);
}

/**
 * PEFT's get_pattern_key: the first rank_pattern / alpha_pattern key that matches the module
 * name as `(.*\.)?(key)$`, or undefined.
 */
export function patternKey(keys: readonly string[], name: string): string | undefined {
  return keys.find((k) => new RegExp(`^(.*\\.)?(${k})$`).test(name));
}

/** target_modules as adapter_config.json holds it: a sorted list, or the pattern string. */
export function targetModulesJSON(t: TargetModules): string[] | string {
  if (t instanceof RegExp) return t.source;
  if (typeof t === 'string') return t;
  return [...new Set(t)].sort();
}
