// Built-in fine-tuning patterns as run specs for the PhaseRunner: fastai's fine_tune, ULMFiT's
// gradual unfreezing, Lightning's BackboneFinetuning and Keras' two-phase transfer recipe.
import { ArgumentError } from '../errors.ts';
import { type ModelMeta, metaOf } from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import type { OptimizerSpec } from '../optim/index.ts';
import type { PhaseSchedulerSpec } from './_phase_parts.ts';
import type { BnPolicy } from './freeze.ts';
import { evenMults } from './lr.ts';
import type { PhaseSpec, RunSpec } from './phases.ts';
import type { Selector } from './select.ts';

function metaFor(model: Module, meta?: ModelMeta): ModelMeta {
  const m = meta ?? metaOf(model);
  if (!m)
    throw new ArgumentError(
      `${model.constructor.name} has no layer groups`,
      'build it with models.create(name), or pass meta (models.getMeta(name) or your own)',
    );
  return m;
}

function positiveInt(what: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new ArgumentError(`${what} must be an integer >= ${min}, got ${String(v)}`);
  return v;
}

export interface FineTuneOptions {
  /** epochs after unfreezing */
  epochs: number;
  /**
   * optimizer steps per epoch (the one-cycle schedules step per batch); leave it out when the spec
   * goes to the trainer: fit() gives the phase runner the data's length when it starts
   */
  stepsPerEpoch?: number;
  /** default 2e-3 */
  baseLr?: number;
  /** head-only epochs first; default 1 (0 skips the phase) */
  freezeEpochs?: number;
  /** lowest group at baseLr / 2 / lrMult after unfreezing; default 100 */
  lrMult?: number;
  /** default 0.3 */
  pctStart?: number;
  /** one-cycle start at max / div after unfreezing; default 5 */
  div?: number;
  /** one-cycle end at max / divFinal; default 1e5 */
  divFinal?: number;
  /** default fastai's Adam: AdamW, betas [0.9, 0.99], eps 1e-5, weight_decay 0.01 */
  optimizer?: OptimizerSpec;
  /** BatchNorm in frozen groups; default 'train' (fastai's train_bn) */
  bn?: BnPolicy;
  meta?: ModelMeta;
}

const FASTAI_ADAM: OptimizerSpec = { type: 'AdamW', betas: [0.9, 0.99], eps: 1e-5, weight_decay: 0.01 };

/**
 * fastai's fine_tune(epochs, base_lr, freeze_epochs, lr_mult, pct_start, div): freeze all layer
 * groups but the last, fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99); then
 * base_lr /= 2, unfreeze, fit_one_cycle(epochs, slice(base_lr / lr_mult, base_lr), pct_start, div).
 * One cycle is torch's OneCycleLR (div_factor div, final_div_factor divFinal / div, momentum
 * 0.95 -> 0.85 -> 0.95), stepped per batch. As fastai's Learner (wd_bn_bias=False), biases and norm
 * weights get no weight decay (groups.noDecay: true; torch.optim alone would decay them).
 */
export function fineTune(model: Module, o: FineTuneOptions): RunSpec {
  const meta = metaFor(model, o.meta);
  const n = meta.groups.length;
  const names = meta.groups.map((g) => g.name);
  const base = o.baseLr ?? 2e-3;
  const freezeEpochs = o.freezeEpochs ?? 1;
  const divFinal = o.divFinal ?? 1e5;
  const div = o.div ?? 5;
  const cycle = (pct: number, d: number): PhaseSchedulerSpec => ({
    type: 'OneCycleLR',
    pct_start: pct,
    div_factor: d,
    final_div_factor: divFinal / d,
    base_momentum: 0.85,
    max_momentum: 0.95,
    interval: 'step',
  });
  const byGroup = (lrs: number[]) => Object.fromEntries(names.map((g, i) => [g, lrs[i]!]));
  const half = base / 2;
  const phases: PhaseSpec[] = [];
  if (positiveInt('freezeEpochs', freezeEpochs, 0) > 0)
    phases.push({ name: 'head', epochs: freezeEpochs, freeze: { freezeTo: -1 }, scheduler: cycle(0.99, 25) });
  phases.push({
    name: 'unfrozen',
    epochs: positiveInt('epochs', o.epochs),
    freeze: 'none',
    lr: { set: byGroup(evenMults(half / (o.lrMult ?? 100), half, n)) },
    scheduler: cycle(o.pctStart ?? 0.3, div),
  });
  return {
    optimizer: { ...(o.optimizer ?? FASTAI_ADAM), lr: base },
    // fastai's Learner(wd_bn_bias=False): biases and norm weights get no weight decay
    groups: { baseLr: base, layers: { discriminative: base }, noDecay: true },
    phases,
    ...(o.stepsPerEpoch !== undefined ? { stepsPerEpoch: positiveInt('stepsPerEpoch', o.stepsPerEpoch) } : {}),
    bn: o.bn ?? 'train',
  };
}

export interface GradualUnfreezingOptions {
  /** lr of the last layer group */
  baseLr: number;
  /** total epochs; default: one stage per layer group */
  epochs?: number;
  /** epochs per unfreezing stage; default 1 */
  epochsPerStage?: number;
  /** ULMFiT's discriminative factor: each group below gets lr / factor; default 2.6 (1 turns it off) */
  factor?: number;
  optimizer?: OptimizerSpec;
  /** one scheduler over the whole run (ULMFiT used slanted triangular lrs) */
  scheduler?: PhaseSchedulerSpec;
  stepsPerEpoch?: number;
  bn?: BnPolicy;
  meta?: ModelMeta;
}

/** ULMFiT: train the last layer group, then unfreeze one more group per stage until all train. */
export function gradualUnfreezing(model: Module, o: GradualUnfreezingOptions): RunSpec {
  const n = metaFor(model, o.meta).groups.length;
  const per = positiveInt('epochsPerStage', o.epochsPerStage ?? 1);
  const total = o.epochs ?? n * per;
  if (total < n * per)
    throw new ArgumentError(`gradualUnfreezing: ${n} groups x ${per} epochs need ${n * per} epochs, got ${total}`);
  const phases: PhaseSpec[] = [];
  for (let k = 1; k <= n; k++)
    phases.push({
      name: k === n ? 'all' : `last ${k}`,
      epochs: k === n ? total - (n - 1) * per : per,
      freeze: k === n ? 'none' : { freezeTo: -k },
    });
  const factor = o.factor ?? 2.6;
  return {
    optimizer: { type: 'Adam', ...(o.optimizer ?? {}), lr: o.baseLr },
    // a fastai recipe: fastai's Learner(wd_bn_bias=False) keeps biases and norm weights out of weight decay
    groups: { baseLr: o.baseLr, layers: factor === 1 ? true : { decay: 1 / factor }, noDecay: true },
    scheduler: o.scheduler,
    phases,
    stepsPerEpoch: o.stepsPerEpoch,
    bn: o.bn,
  };
}

export interface BackboneFinetuningOptions {
  /** total epochs */
  epochs: number;
  /** Lightning's unfreeze_backbone_at_epoch; default 10 */
  unfreezeAt?: number;
  /** head lr (the optimizer's lr) */
  lr: number;
  /** backbone lr at unfreezing = head lr x this; default 0.1 */
  backboneInitialRatio?: number;
  /** or an absolute backbone lr at unfreezing */
  backboneInitialLr?: number;
  /** backbone lr multiplier per epoch, lambda_func(epoch + 1); default Lightning's multiplicative: 2.0 */
  lambdaFunc?: number | ((epoch: number) => number);
  /** cap the backbone lr at the head's; default true */
  shouldAlign?: boolean;
  /** BatchNorm in the frozen backbone trains (Lightning's train_bn, default true) or is frozen entirely */
  trainBn?: boolean;
  /** default: everything but the head */
  backbone?: Selector;
  /** default: the model's last layer group */
  head?: Selector;
  optimizer?: OptimizerSpec;
  scheduler?: PhaseSchedulerSpec;
  stepsPerEpoch?: number;
}

/**
 * Lightning's BackboneFinetuning: the backbone is frozen until unfreezeAt; then its lr starts at
 * head lr x backboneInitialRatio and is multiplied by lambdaFunc(epoch + 1) each epoch, never above
 * the head's lr. Unlike Lightning, the backbone group exists (frozen) from the start, so schedulers
 * created before unfreezing step it too.
 */
export function backboneFinetuning(model: Module, o: BackboneFinetuningOptions): RunSpec {
  const at = positiveInt('unfreezeAt', o.unfreezeAt ?? 10, 0);
  const epochs = positiveInt('epochs', o.epochs);
  if (at >= epochs) throw new ArgumentError(`backboneFinetuning: unfreezeAt (${at}) must be before epochs (${epochs})`);
  if (metaOf(model) === undefined && o.head === undefined)
    throw new ArgumentError('backboneFinetuning: give head (a selector) for a model without layer groups');
  const head: Selector = o.head ?? { group: -1 };
  const backbone: Selector = o.backbone ?? { not: head };
  const phases: PhaseSpec[] = [];
  if (at > 0)
    phases.push({
      name: 'backbone frozen',
      epochs: at,
      freeze: { freeze: backbone, bn: o.trainBn === false ? 'freeze-all' : 'train' },
    });
  phases.push({
    name: 'backbone ramp',
    epochs: epochs - at,
    freeze: 'none',
    lr: { set: { backbone: o.backboneInitialLr ?? { of: 'head', times: o.backboneInitialRatio ?? 0.1 } } },
    ramp: { groups: 'backbone', factor: o.lambdaFunc ?? 2.0, alignTo: o.shouldAlign === false ? undefined : 'head' },
  });
  return {
    optimizer: { type: 'Adam', ...(o.optimizer ?? {}), lr: o.lr },
    groups: {
      baseLr: o.lr,
      groups: [
        { name: 'head', match: head },
        { name: 'backbone', match: backbone },
      ],
    },
    scheduler: o.scheduler,
    phases,
    stepsPerEpoch: o.stepsPerEpoch,
  };
}

export interface KerasTwoPhaseOptions {
  /** epochs training the new head on the frozen base */
  headEpochs: number;
  /** epochs fine-tuning after unfreezing */
  epochs: number;
  /** default 1e-3 (Keras' Adam default) */
  lr?: number;
  /** default 1e-5 ("a very low learning rate") */
  fineTuneLr?: number;
  /** default 'Adam'; recompiled (state reset) for the second phase */
  optimizer?: OptimizerSpec;
  /** unfreeze layer groups from this index on (Keras' fine_tune_at); default 0: everything */
  unfreezeFrom?: number;
  /** default: the model's last layer group */
  head?: Selector;
  meta?: ModelMeta;
}

/**
 * Keras' transfer-learning guide: base_model.trainable = False, train the head; then unfreeze
 * (all, or from fine_tune_at), recompile with a very low lr, and keep BatchNorm in inference mode
 * (base_model(x, training=False)): its statistics never move, in either phase.
 */
export function kerasTwoPhase(model: Module, o: KerasTwoPhaseOptions): RunSpec {
  const head: Selector = o.head ?? { group: -1 };
  if (o.head === undefined) metaFor(model, o.meta);
  const base: Selector = { not: head };
  const opt: OptimizerSpec = o.optimizer ?? { type: 'Adam' };
  const lr = o.lr ?? 1e-3;
  return {
    optimizer: { ...opt, lr },
    groups: { baseLr: lr },
    phases: [
      { name: 'head', epochs: positiveInt('headEpochs', o.headEpochs), freeze: { freeze: base, bn: 'freeze-all' } },
      {
        name: 'fine-tune',
        epochs: positiveInt('epochs', o.epochs),
        freeze: o.unfreezeFrom ? { freezeTo: o.unfreezeFrom, bn: 'freeze-all', bnEval: base } : { bnEval: base },
        optimizer: { ...opt, state: 'reset' },
        lr: { set: o.fineTuneLr ?? 1e-5 },
      },
    ],
  };
}
