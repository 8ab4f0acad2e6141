// The training callback that feeds loggers (TensorBoard, CSV, your own Logger) what a run records:
// the scalars of metrics.jsonl under TensorBoard-style tags, parameter histograms on request, and
// the hyper-parameters. The scalars are the numbers metrics.jsonl holds, at the same steps:
//   every `logEvery` optimizer steps (a step record): train/loss_step (the item-weighted mean loss
//     since the last one), train/throughput (items/s), train/grad_norm (when clipping by norm),
//     train/grad_scale (fp16), lr/<group> and momentum/<group> (momentum, or Adam's beta1) of
//     each param group at the step just taken
//   after every epoch (an epoch record): epoch, train/<metric> and eval/<metric> for the loss
//     and each metric of the split ('eval.accuracy' is logged as eval/accuracy)
// The global step of each value is the number of optimizer steps taken (metrics.jsonl's `step`).

import { ArgumentError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import { type SplitMetrics, splitScalars } from '../report/index.ts';
import type { Callback, Trainer } from '../train/index.ts';
import type { Logger } from './logger.ts';
import type { HparamValue, SessionStatus } from './summary.ts';

export interface HistogramOptions {
  /** optimizer steps between histograms */
  every: number;
  /** the trainable parameters' values after the step (default true) */
  weights?: boolean;
  /** their gradients as the optimizer gets them, before clipping (default true) */
  grads?: boolean;
}

export interface TrackingOptions {
  loggers: Logger[];
  /** optimizer steps per step-level log (default 10, as metrics.jsonl's logEvery) */
  logEvery?: number;
  /** histograms of the trainable parameters every N steps (default: none) */
  histograms?: HistogramOptions;
  /** hyper-parameters for TensorBoard's HPARAMS tab (written at the start) */
  hparams?: Record<string, HparamValue>;
}

/** A param group's name in tags: its own name, else group<i>. */
const groupTag = (name: string | null | undefined, i: number): string => name || `group${i}`;

function momentumOf(g: { momentum?: unknown; betas?: unknown }): number | undefined {
  if (typeof g.momentum === 'number') return g.momentum;
  if (Array.isArray(g.betas) && typeof g.betas[0] === 'number') return g.betas[0];
  return undefined;
}

/** A split's scalars under `<split>/<metric>`: the loss first, then the rest as metrics.jsonl has them. */
export function splitTags(split: 'train' | 'eval', m: SplitMetrics | undefined): Record<string, number> {
  if (!m) return {};
  const out: Record<string, number> = { [`${split}/loss`]: m.loss };
  for (const [k, v] of splitScalars(m)) out[`${split}/${k}`] = v;
  return out;
}

function trainable(model: Module): [string, ReturnType<Module['parameters']>[number]][] {
  return [...model.namedParameters()].filter(([, p]) => p.requiresGrad);
}

export class TrackingCallback implements Callback {
  readonly name = 'tracking';
  // before clipping (order 0), after AMP's unscale (-60) and accumulation's normalisation (-50)
  readonly order = -10;
  readonly loggers: Logger[];
  readonly logEvery: number;
  readonly histograms: HistogramOptions | undefined;
  readonly hparams: Record<string, HparamValue> | undefined;
  #lossSum = 0;
  #items = 0;
  #steps = 0;
  #t0 = 0;
  #lr: number[] = [];
  #momentum: (number | undefined)[] = [];

  constructor(o: TrackingOptions) {
    this.loggers = o.loggers;
    this.logEvery = o.logEvery ?? 10;
    this.histograms = o.histograms;
    this.hparams = o.hparams;
    if (!Number.isInteger(this.logEvery) || this.logEvery < 1)
      throw new ArgumentError(`logEvery must be an integer >= 1, got ${o.logEvery}`);
    const every = o.histograms?.every;
    if (o.histograms && (!Number.isInteger(every) || every! < 1))
      throw new ArgumentError(`histograms.every must be an integer >= 1, got ${every}`);
  }

  #each(f: (l: Logger) => void): void {
    for (const l of this.loggers) f(l);
  }

  beforeFit(t: Trainer): void {
    if (t.resumedFrom) this.#each((l) => l.rewind?.(t.step));
    if (this.hparams) this.#each((l) => l.logHparams(this.hparams!));
    this.#t0 = performance.now();
  }

  beforeEpoch(t: Trainer): void {
    if (t.position.batch === 0) this.#t0 = performance.now();
  }

  beforeStep(t: Trainer): void {
    this.#lr = t.lrs();
    this.#momentum = t.optimizer.paramGroups.map(momentumOf);
    const h = this.histograms;
    if (h && h.grads !== false && (t.step + 1) % h.every === 0)
      for (const [name, p] of trainable(t.model)) {
        // the gradient's handle belongs to the step's tidy() scope, as clipping's do
        const g = p.grad;
        if (!g) continue;
        const values = g.data() as Float32Array;
        this.#each((l) => l.logHistogram(t.step + 1, `grads/${name}`, values));
      }
  }

  afterStep(t: Trainer): void {
    const h = this.histograms;
    if (h && h.weights !== false && t.step % h.every === 0)
      for (const [name, p] of trainable(t.model)) {
        const values = p.data() as Float32Array;
        this.#each((l) => l.logHistogram(t.step, `weights/${name}`, values));
      }
  }

  afterBatch(t: Trainer): void {
    if (t.batchCounted) {
      this.#lossSum += t.lossValue * t.items;
      this.#items += t.items;
    }
    if (!t.stepped) return;
    this.#steps += 1;
    if (this.#steps < this.logEvery) return;
    const secs = (performance.now() - this.#t0) / 1000;
    const s: Record<string, number> = { 'train/loss_step': this.#lossSum / this.#items };
    if (secs > 0) s['train/throughput'] = this.#items / secs;
    if (t.gradNorm !== undefined) s['train/grad_norm'] = t.gradNorm;
    if (t.scaler) s['train/grad_scale'] = t.scaler.getScale();
    const names = t.groupNames();
    this.#lr.forEach((lr, i) => {
      s[`lr/${groupTag(names[i], i)}`] = lr;
    });
    this.#momentum.forEach((m, i) => {
      if (m !== undefined) s[`momentum/${groupTag(names[i], i)}`] = m;
    });
    this.#each((l) => l.logScalars(t.step, s));
    this.#lossSum = 0;
    this.#items = 0;
    this.#steps = 0;
    this.#t0 = performance.now();
  }

  afterEpoch(t: Trainer): void {
    const s = { epoch: t.epoch, ...splitTags('train', t.trainMetrics), ...splitTags('eval', t.evalMetrics) };
    this.#each((l) => {
      l.logScalars(t.step, s);
      l.flush();
    });
  }

  afterFit(t: Trainer): void {
    const status: SessionStatus = t.error ? 'failure' : 'success';
    for (const l of this.loggers)
      try {
        l.close(status);
      } catch (e) {
        // a run that already failed reports its own error; else this one ends it
        t.error ??= e;
      }
  }

  stateDict(): Record<string, unknown> {
    return { loss_sum: this.#lossSum, items: this.#items, steps: this.#steps };
  }

  loadStateDict(s: Record<string, unknown>): void {
    this.#lossSum = Number(s.loss_sum ?? 0);
    this.#items = Number(s.items ?? 0);
    this.#steps = Number(s.steps ?? 0);
  }
}
