// Quantization-aware training as one phase of a recipe: the run trains the model's quantizable form
// (the float model's own layers behind quant / dequant stubs, the same keys and parameters) and, when
// the QAT phase starts, prepareQat swaps its children in place for fake-quantized ones sharing the
// same parameters, so the trainer's model and the optimizer's tensors stay the same. From then on
// checkpoints hold the QAT form; resumeQatForm rebuilds it before such a checkpoint loads.
// `quantize: {mode: qat}` without a phase's qat section is QAT from the first phase on.
import { RecipeError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import * as quant from '../quant/index.ts';
import type { Callback, Trainer } from '../train/index.ts';
import type { Recipe } from './schema.ts';

type Backend = NonNullable<NonNullable<Recipe['quantize']>['backend']>;

/** Where quantization-aware training starts and its late-training switches. */
export interface QatPlan {
  /** the phase QAT starts with (it stays on to the end of the run) */
  index: number;
  name: string | undefined;
  /** the phase's first epoch (0-based) */
  start: number;
  backend: Backend;
  /** epochs into the QAT phase from which BatchNorm statistics freeze */
  freezeBnAfter?: number;
  /** epochs into the QAT phase from which observers stop */
  observersOffAfter?: number;
}

const at = (i: number) => `phases[${i}].qat`;

/**
 * The recipe's QAT phase (a phase's qat section, or the first phase for quantize.mode 'qat'), or
 * undefined; RecipeErrors naming the path for combinations that cannot run.
 */
export function qatPlan(r: Recipe): QatPlan | undefined {
  const q = r.quantize;
  const marked = r.phases.flatMap((p, i) => (p.qat ? [i] : []));
  if (marked.length > 1)
    throw new RecipeError(
      at(marked[1]!),
      `quantization-aware training already starts at phases[${marked[0]}] and stays on to the end of the run`,
      'give one phase a qat section: the first phase that trains fake-quantized',
    );
  const index = marked[0] ?? (q?.mode === 'qat' ? 0 : undefined);
  if (index === undefined) return undefined;
  const phase = r.phases[index]!;
  const own = phase.qat;
  if (own && q && q.mode !== 'qat')
    throw new RecipeError(
      'quantize.mode',
      `'${q.mode}', but ${at(index)} trains quantization-aware: the run ends in the int8 model QAT made`,
      "set quantize.mode to 'qat' or leave the quantize section out",
    );
  for (const k of ['freezeBnAfter', 'observersOffAfter'] as const)
    if (own && q?.[k] !== undefined)
      throw new RecipeError(
        `quantize.${k}`,
        `the run has a QAT phase (${at(index)}): its switches go there, counted from the phase's first epoch`,
        `move it to ${at(index)}.${k}`,
      );
  if (own?.backend && q?.backend && own.backend !== q.backend)
    throw new RecipeError(`${at(index)}.backend`, `'${own.backend}', but quantize.backend is '${q.backend}'`);
  let start = 0;
  for (const [i, p] of r.phases.slice(0, index + 1).entries()) {
    if (p.epochs === undefined)
      throw new RecipeError(
        `phases[${i}].epochs`,
        'quantization-aware training starts at an epoch: its phase and the phases before it need epochs (not steps)',
        'give each phase epochs: N',
      );
    if (i < index) start += p.epochs;
  }
  checkQatRun(r, index);
  const freezeBnAfter = own ? own.freezeBnAfter : q?.freezeBnAfter;
  const observersOffAfter = own ? own.observersOffAfter : q?.observersOffAfter;
  return {
    index,
    name: phase.name,
    start,
    backend: own?.backend ?? q?.backend ?? 'fbgemm',
    ...(freezeBnAfter !== undefined ? { freezeBnAfter } : {}),
    ...(observersOffAfter !== undefined ? { observersOffAfter } : {}),
  };
}

// what QAT cannot be combined with, by recipe path
function checkQatRun(r: Recipe, index: number): void {
  const pruned = r.phases.findIndex((p) => p.prune);
  if (pruned >= 0)
    throw new RecipeError(
      `phases[${pruned}].prune`,
      'pruning and quantization-aware training in one run are not supported (the QAT layers would not see the masks)',
      'prune in one run, then train with qat in a new run from its weights (model.pretrained.checkpoint)',
    );
  // the QAT form renames BatchNorm parameters (conv1.bn.weight): a freeze spec could not follow them
  let freeze: unknown = 'none';
  let setAt = 0;
  for (const [i, p] of r.phases.entries()) {
    if (p.freeze !== undefined) [freeze, setAt] = [p.freeze, i];
    if (i >= index && freeze !== 'none')
      throw new RecipeError(
        `phases[${setAt}].freeze`,
        `quantization-aware training trains the whole model, but phases[${i}] (QAT on) would keep layers frozen`,
        'give the QAT phase freeze: none',
      );
    if (i >= index && p.cacheFeatures !== undefined && p.cacheFeatures !== 'off')
      throw new RecipeError(
        `phases[${i}].cacheFeatures`,
        'features cannot be cached while the model trains fake-quantized',
        'leave cacheFeatures out (or off) from the QAT phase on',
      );
  }
  if (r.train?.export && r.train.export.weights === 'best')
    throw new RecipeError(
      'train.export.weights',
      "quantization-aware training exports the last weights (best.pth holds the fake-quantized form's keys)",
      "remove train.export.weights or set it to 'last'",
    );
  if ((r.train?.device ?? 'cpu') !== 'cpu')
    throw new RecipeError(at(index), 'int8 kernels run on the CPU', 'train on the CPU');
  if (r.lora) throw new RecipeError(at(index), 'quantization-aware training of LoRA adapters is not supported');
}

/** The recipe's quantize section, with the one a QAT phase implies when there is none. */
export function quantizeSection(r: Recipe, plan = qatPlan(r)): Recipe['quantize'] {
  return r.quantize ?? (plan ? { mode: 'qat', backend: plan.backend } : undefined);
}

/**
 * The module a recipe with QAT trains: the float model's quantizable form (the same layers, keys
 * and parameters; QAT later swaps its children). Other recipes train the model itself.
 */
export function qatTrainForm(model: Module, r: Recipe, plan = qatPlan(r)): Module {
  if (!plan) return model;
  try {
    return quant.quantizable(model);
  } catch (e) {
    throw new RecipeError(
      r.phases[plan.index]!.qat ? at(plan.index) : 'quantize.mode',
      (e as Error).message,
      'use mode: dynamic for models without convs',
    );
  }
}

/** The recipe with the feature cache off from the QAT phase on (what it caches would go stale). */
export function withoutQatCache(r: Recipe, plan = qatPlan(r)): Recipe {
  if (!plan) return r;
  return { ...r, phases: r.phases.map((p, i) => (i >= plan.index ? { ...p, cacheFeatures: 'off' } : p)) };
}

/** Swaps the form's children for QAT ones (prepareQat in place; the parameters stay the same tensors). */
export function startQat(form: Module, plan: QatPlan): void {
  quant.prepareQat(form, { backend: plan.backend });
}

/** True for a model state dict (its keys) taken in QAT form. */
export const isQatState = (keys: Iterable<string>): boolean => {
  for (const k of keys) if (k.includes('weight_fake_quant.') || k.includes('activation_post_process.')) return true;
  return false;
};

/** Before a checkpoint taken in QAT form loads: the same form, so its keys match. */
export function resumeQatForm(form: Module, plan: QatPlan | undefined, keys: string[], checkpoint: string): void {
  if (!isQatState(keys)) return;
  if (!plan)
    throw new RecipeError(
      'quantize',
      `${checkpoint} holds a model in quantization-aware training form, but the recipe has no QAT`,
      'resume with the recipe the run started with',
    );
  if (!quant.isQatPrepared(form)) startQat(form, plan);
}

/** Starts QAT when its phase starts and applies its switches by epoch (again on resume: they follow the epoch). */
export class QatPhaseCallback implements Callback {
  // before the logger (0), which writes the epoch's notes
  readonly order = -10;
  constructor(
    readonly plan: QatPlan,
    readonly form: Module,
  ) {}
  beforeEpoch(t: Trainer): void {
    const { start, freezeBnAfter, observersOffAfter, backend } = this.plan;
    if (t.epoch < start) return;
    if (!quant.isQatPrepared(this.form)) {
      startQat(this.form, this.plan);
      t.notes.push(`quantization-aware training starts (${backend} qconfig): fake-quantized from here on`);
    }
    const local = t.epoch - start;
    if (freezeBnAfter !== undefined && local >= freezeBnAfter) quant.freezeBnStats(this.form);
    if (observersOffAfter !== undefined && local >= observersOffAfter) quant.enableObserver(this.form, false);
  }
}

/** The plan's lines about QAT (graft plan). */
export function qatPlanLines(plan: QatPlan | undefined): string[] {
  if (!plan) return [];
  const switches = [
    plan.freezeBnAfter !== undefined ? `BatchNorm statistics frozen from epoch ${plan.start + plan.freezeBnAfter}` : '',
    plan.observersOffAfter !== undefined ? `observers off from epoch ${plan.start + plan.observersOffAfter}` : '',
  ].filter(Boolean);
  return [
    `quantization-aware training: from phase ${plan.index}${plan.name ? ` '${plan.name}'` : ''} (epoch ${plan.start}) to the end, ` +
      `${plan.backend} qconfig, then int8 (model.int8.safetensors)` +
      (switches.length ? `; ${switches.join(', ')}` : ''),
  ];
}
