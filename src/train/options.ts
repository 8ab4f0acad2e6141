// What a Trainer is built from, and the small pieces of its step: default forward and loss,
// moving batches to the device, flattening metrics, the monitor that picks the best epoch.
import { ArgumentError } from '../errors.ts';
import type { Module } from '../nn/index.ts';
import type { Optimizer } from '../optim/index.ts';
import type { SplitMetrics } from '../report/index.ts';
import type { AnyScheduler } from '../schedule/index.ts';
import { crossEntropy, type MemoryFormat, Tensor } from '../tensor/index.ts';
import type { Callback } from './events.ts';
import { checkMetricName, type Task } from './metrics.ts';
import type { MetricMap, PhaseRunnerLike } from './runner.ts';
import type { GradScalerOptions } from './scaler.ts';
import type { Batch, BatchInput } from './source.ts';

export type LossFn = (output: any, target: Tensor | undefined, batch: Batch) => Tensor;
export type ForwardFn = (model: Module, input: BatchInput, batch: Batch) => unknown;
export type AmpSetting =
  | false
  | 'bf16'
  | 'fp16'
  | { dtype: 'bfloat16' | 'float16'; scaler?: GradScalerOptions | false };

export interface TrainerOptions {
  model: Module;
  /** training batches: a BatchSource, a loader, or an array of batches */
  train: unknown;
  /** validation batches, run after every epoch */
  valid?: unknown;
  /** src/finetune's phase runner, or anything with the same shape; else optimizer (+ scheduler) */
  runner?: PhaseRunnerLike;
  optimizer?: Optimizer;
  scheduler?: AnyScheduler;
  /** when a plain scheduler steps (default 'epoch') */
  schedulerInterval?: 'epoch' | 'step';
  /** default: cross-entropy on the logits (output, or output.logits) */
  loss?: LossFn;
  /** default: model.call(input) (an object input is passed as one argument) */
  forward?: ForwardFn;
  callbacks?: Callback[];
  /** seeds libtorch's generator per batch (default 0) */
  seed?: number;
  /** 'cpu' (default) or 'cuda:0': batches are moved there; move the model before building the optimizer */
  device?: string;
  /** 'bf16' (CPU, CUDA) or 'fp16' (CUDA, with a GradScaler) */
  amp?: AmpSetting;
  /** batches per optimizer step (default 1) */
  accumulate?: number;
  /** 'channels_last': conv weights and 4-d inputs stored NHWC, oneDNN's faster CPU layout (same math) */
  memoryFormat?: MemoryFormat;
  /** k of the top-k accuracy (default 5) */
  topK?: number;
  /** the metric that picks the best epoch (default 'eval.loss', or 'train.loss' without validation) */
  monitor?: string | MonitorSpec;
  /** 'causal-lm': meters report loss per token and perplexity, no class metrics (default 'classification') */
  task?: Task;
}

export interface MonitorSpec {
  metric: string;
  /** default: 'min' for losses, 'max' for everything else */
  mode?: 'min' | 'max';
}

/** The monitor with its mode; an unknown metric name is an ArgumentError with a did-you-mean. */
export function resolveMonitor(
  m: string | MonitorSpec | undefined,
  hasValid: boolean,
  task?: Task,
): Required<MonitorSpec> {
  const spec = typeof m === 'string' ? { metric: m } : (m ?? { metric: hasValid ? 'eval.loss' : 'train.loss' });
  checkMetricName(spec.metric, { valid: hasValid, task }, 'monitor');
  const mode = spec.mode ?? (/loss$/i.test(spec.metric) ? 'min' : 'max');
  if (mode !== 'min' && mode !== 'max') throw new ArgumentError(`monitor mode must be 'min' or 'max', got '${mode}'`);
  return { metric: spec.metric, mode };
}

/** Logits from a model output: the tensor itself or `output.logits`. */
export function logitsOf(output: unknown): Tensor | undefined {
  if (output instanceof Tensor) return output;
  const l = (output as { logits?: unknown } | null)?.logits;
  return l instanceof Tensor ? l : undefined;
}

export const defaultLoss: LossFn = (output, target) => {
  const logits = logitsOf(output);
  if (!logits || !target)
    throw new ArgumentError('the default loss needs logits and a target', 'pass loss: (output, target) => Tensor');
  return crossEntropy(logits.dtype === 'float32' ? logits : logits.float(), target);
};

export const defaultForward: ForwardFn = (model, input) =>
  Array.isArray(input) ? (model.call as (...a: unknown[]) => unknown)(...input) : model.call(input);

export function toDevice(b: Batch, device: string): Batch {
  if (device === 'cpu') return b;
  const mv = (t: Tensor) => (t.device === device ? t : t.to({ device }));
  const i = b.input;
  const input =
    i instanceof Tensor
      ? mv(i)
      : Array.isArray(i)
        ? i.map(mv)
        : Object.fromEntries(Object.entries(i).map(([k, t]) => [k, mv(t)]));
  return { ...b, input, target: b.target && mv(b.target) };
}

export function flattenMetrics(train: SplitMetrics | undefined, valid: SplitMetrics | undefined): MetricMap {
  const out: MetricMap = {};
  for (const [split, m] of [
    ['train', train],
    ['eval', valid],
  ] as const)
    if (m) for (const [k, v] of Object.entries(m)) if (typeof v === 'number' && k !== 'items') out[`${split}.${k}`] = v;
  return out;
}
