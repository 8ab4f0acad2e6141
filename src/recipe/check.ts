// Checks the schema cannot express: registry names, optimizer hyper-parameters per type, scheduler
// keys (a trial build on the optimizer the recipe builds at that phase, without tensors), phase
// lengths, metric names of monitors, what each data kind needs, layer and transform specs, group
// names in lr changes. Errors name the recipe path.
import { ArgumentError, type GraftError, RecipeError } from '../errors.ts';
import {
  buildOptimizer,
  checkLength,
  type PhaseOptimizerSpec,
  type PhaseSchedulerSpec,
  schedulerParts,
} from '../finetune/index.ts';
import * as models from '../models/index.ts';
import { pretrainedSources } from '../models/pretrained.ts';
import { OPTIMIZER_TYPES, optimizerDefaults, optimizerType } from '../optim/index.ts';
import { createScheduler } from '../schedule/index.ts';
import { didYouMean, show } from './_issues.ts';
import { checkCausalLMRecipe } from './causal_lm.ts';
import { parseLayer } from './layers.ts';
import { checkWeightsRef } from './model.ts';
import { checkMonitors } from './monitors.ts';
import type { Recipe } from './schema.ts';
import { parseTransforms } from './transforms.ts';

/** A graft error's message without its hint suffix. */
export function bareMessage(e: GraftError): string {
  const suffix = e.hint ? ` (hint: ${e.hint})` : '';
  return suffix && e.message.endsWith(suffix) ? e.message.slice(0, -suffix.length) : e.message;
}

/** Re-raises an ArgumentError as a RecipeError at `path` (other errors pass through). */
export function atPath<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ArgumentError) throw new RecipeError(path, bareMessage(e), e.hint);
    throw e;
  }
}

function checkOptimizer(spec: Record<string, unknown>, path: string, extra: string[] = []): void {
  if (!OPTIMIZER_TYPES.some((t) => t.toLowerCase() === String(spec.type).toLowerCase())) {
    const near = didYouMean(String(spec.type), OPTIMIZER_TYPES);
    throw new RecipeError(
      `${path}.type`,
      `expected one of ${OPTIMIZER_TYPES.join(', ')}, got ${show(spec.type)}`,
      near ? `did you mean '${near}'?` : undefined,
    );
  }
  const type = optimizerType(spec.type);
  const known = [...Object.keys(optimizerDefaults(type)), ...extra];
  for (const k of Object.keys(spec)) {
    if (k === 'type' || known.includes(k)) continue;
    const near = didYouMean(k, known);
    throw new RecipeError(
      `${path}.${k}`,
      `${type} has no hyper-parameter '${k}'`,
      near ? `did you mean '${near}'?` : `${type} takes ${known.join(', ')}`,
    );
  }
}

/**
 * Builds the scheduler on the optimizer the recipe has at that point (its type and hyper-parameters,
 * torch.optim's defaults and param-group keys; no tensors), as the run will: OneCycleLR finds
 * momentum or betas where the real optimizer has them.
 */
function checkScheduler(spec: PhaseSchedulerSpec, path: string, optimizer: PhaseOptimizerSpec): void {
  const lr = typeof optimizer.lr === 'number' ? optimizer.lr : 0.1;
  try {
    const parts = schedulerParts(
      spec,
      () => 10,
      () => [lr],
    );
    const opt = buildOptimizer(optimizer, [{ params: [], lr }], true);
    for (const g of opt.paramGroups) g.initial_lr = g.lr;
    createScheduler(parts.spec, opt);
  } catch (e) {
    if (!(e instanceof ArgumentError)) throw e;
    const msg = bareMessage(e);
    const m = /^scheduler((?:\.[\w[\]]+)*): ([\s\S]*)$/.exec(msg);
    if (m) throw new RecipeError(`${path}${m[1]}`, m[2]!, e.hint);
    throw new RecipeError(path, msg, e.hint);
  }
}

function checkData(r: Recipe): void {
  const d = r.data;
  const need = (key: keyof typeof d, why: string) => {
    if (d[key] === undefined) throw new RecipeError(`data.${String(key)}`, `missing (${why})`);
  };
  if (d.kind === 'image-folder')
    need('root', 'the image folder: root/train/<class>/..., or root/<class>/... with valRatio');
  if (d.kind === 'idx') need('root', 'the folder of {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] files');
  if (d.kind === 'manifest') need('train', 'a CSV or JSONL file of path,label rows');
  if (d.kind === 'text') {
    need('train', 'a CSV or JSONL file of text,label rows');
    need('tokenizer', 'a tokenizer.json or vocab.txt');
  }
  if (d.kind === 'causal-lm') {
    need('train', 'text files, a folder or a glob, or JSONL rows of {text}, {instruction, output} or {messages}');
    for (const k of ['padding', 'textColumn', 'pairColumn', 'labelColumn', 'classes'] as const)
      if (d[k] !== undefined) throw new RecipeError(`data.${k}`, 'is for text classification data, not causal-lm');
  } else
    for (const k of ['format', 'split', 'packing', 'blockSize', 'appendEos', 'chatTemplate'] as const)
      if (d[k] !== undefined) throw new RecipeError(`data.${k}`, `is for causal-lm data, not ${d.kind}`);
  if (d.kind !== 'text' && d.kind !== 'causal-lm') {
    for (const k of ['tokenizer', 'maxLength', 'padding', 'textColumn', 'pairColumn'] as const)
      if (d[k] !== undefined) throw new RecipeError(`data.${k}`, `is for text data, not ${d.kind}`);
  } else
    for (const k of ['transforms', 'imageSize', 'mode', 'pathColumn', 'maxImagePixels'] as const)
      if (d[k] !== undefined) throw new RecipeError(`data.${k}`, 'is for image data, not text');
  if (d.valRatio !== undefined && !(d.valRatio > 0 && d.valRatio < 1))
    throw new RecipeError('data.valRatio', `expected a fraction between 0 and 1, got ${d.valRatio}`);
  const meta = models.getMeta(r.model.name);
  const stats = meta.mean && meta.std ? { mean: meta.mean, std: meta.std } : undefined;
  for (const split of ['train', 'eval'] as const) {
    const t = d.transforms?.[split];
    if (t) parseTransforms(t, `data.transforms.${split}`, stats);
  }
}

function checkGroupNames(r: Recipe): void {
  const g = r.groups;
  if (g === undefined) return;
  const obj = Array.isArray(g) ? { groups: g } : g;
  if (obj.layers) return; // layer group names come from the model
  const names = new Set((obj.groups ?? []).map((x) => x.name));
  if (obj.rest !== false) names.add(obj.rest ?? 'default');
  const known = [...names];
  const check = (name: string, path: string) => {
    const base = name.endsWith('.no_decay') ? name.slice(0, -'.no_decay'.length) : name;
    if (names.has(base)) return;
    const near = didYouMean(name, known);
    throw new RecipeError(
      path,
      `no parameter group '${name}'`,
      near ? `did you mean '${near}'?` : `groups: ${known.join(', ')}`,
    );
  };
  r.phases.forEach((p, i) => {
    const at = `phases[${i}]`;
    const lr = p.lr;
    const lrVal = (v: unknown, path: string) => {
      if (v && typeof v === 'object' && 'of' in v) check(String((v as { of: string }).of), `${path}.of`);
    };
    if (lr?.set !== undefined) {
      if (typeof lr.set === 'object' && !('of' in lr.set))
        for (const [k, v] of Object.entries(lr.set)) {
          check(k, `${at}.lr.set.${k}`);
          lrVal(v, `${at}.lr.set.${k}`);
        }
      else lrVal(lr.set, `${at}.lr.set`);
    }
    if (lr?.scale !== undefined && typeof lr.scale === 'object')
      for (const k of Object.keys(lr.scale)) check(k, `${at}.lr.scale.${k}`);
    if (lr?.equalise !== undefined) lrVal(lr.equalise, `${at}.lr.equalise`);
    if (p.ramp) {
      for (const k of Array.isArray(p.ramp.groups) ? p.ramp.groups : [p.ramp.groups]) check(k, `${at}.ramp.groups`);
      if (p.ramp.alignTo) check(p.ramp.alignTo, `${at}.ramp.alignTo`);
    }
  });
}

/** Throws a RecipeError for the first problem found. */
export function checkRecipe(r: Recipe): void {
  const names = models.list();
  if (!names.includes(r.model.name)) {
    const near = didYouMean(r.model.name, names);
    throw new RecipeError(
      'model.name',
      `unknown model ${show(r.model.name)}`,
      near ? `did you mean '${near}'?` : `registered: ${names.join(', ')}`,
    );
  }
  const pre = r.model.pretrained;
  const offline = pre === 'offline' || (typeof pre === 'object' && pre.offline === true);
  if (offline && !pretrainedSources().includes(r.model.name))
    throw new RecipeError(
      'model.pretrained',
      `no offline weights for '${r.model.name}'`,
      `offline weights exist for ${pretrainedSources().join(', ')}; give { checkpoint: path } for others`,
    );
  if (typeof pre === 'object' && (pre.offline === true) === (pre.checkpoint !== undefined))
    throw new RecipeError('model.pretrained', 'give exactly one of checkpoint or offline: true');
  for (const [path, spec] of Object.entries(r.model.replace ?? {})) parseLayer(spec, `model.replace.${path}`);
  checkWeightsRef(r.model);
  checkCausalLMRecipe(r);
  checkData(r);
  checkMonitors(r);
  checkOptimizer(r.optimizer, 'optimizer');
  // the optimizer in force at each phase: the recipe's, until a phase switches it (keeping the lr)
  let optimizer: PhaseOptimizerSpec = r.optimizer;
  if (r.scheduler) checkScheduler(r.scheduler, 'scheduler', optimizer);
  r.phases.forEach((p, i) => {
    atPath(`phases[${i}]`, () => checkLength({ name: p.name, epochs: p.epochs, steps: p.steps }, i));
    if (p.optimizer) {
      checkOptimizer(p.optimizer, `phases[${i}].optimizer`, ['state']);
      optimizer = { ...p.optimizer, lr: p.optimizer.lr ?? optimizer.lr };
    }
    if (p.scheduler) checkScheduler(p.scheduler, `phases[${i}].scheduler`, optimizer);
    if (p.freeze && p.freeze !== 'none' && Object.keys(p.freeze).length === 0)
      throw new RecipeError(
        `phases[${i}].freeze`,
        'an empty freeze spec freezes nothing',
        "write 'none', or { freeze: selector }",
      );
    // what can be told without the model: '*' with no exception freezes everything (the run
    // checks every spec against the model's parameters before it starts)
    const f = p.freeze;
    const bn = (f !== undefined && f !== 'none' && f.bn) || r.bn || 'freeze-all';
    const all = (x: unknown): boolean => x === '*' || (Array.isArray(x) && x.some(all));
    if (f && f !== 'none' && all(f.freeze) && f.train === undefined && (bn === 'freeze-all' || bn === 'freeze-affine'))
      throw new RecipeError(
        `phases[${i}].freeze`,
        "nothing trains: '*' freezes every parameter",
        "name what trains, e.g. { freeze: '*', train: fc }, or write freeze: none",
      );
  });
  checkGroupNames(r);
  const t = r.train ?? {};
  if (t.device !== undefined && !/^(cpu|cuda(:\d+)?)$/.test(t.device))
    throw new RecipeError('train.device', `expected 'cpu', 'cuda' or 'cuda:N', got ${show(t.device)}`);
  if (t.clip !== undefined && typeof t.clip === 'object' && t.clip.norm === undefined && t.clip.value === undefined)
    throw new RecipeError('train.clip', 'give norm or value', 'e.g. clip: { norm: 1.0 }');
  if (t.amp === 'fp16' && !(t.device ?? 'cpu').startsWith('cuda'))
    throw new RecipeError('train.amp', 'fp16 mixed precision needs CUDA', 'use amp: bf16 on the CPU, or device: cuda');
}
