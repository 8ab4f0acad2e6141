// The one evaluation loop: a model over batches in eval mode, under noGrad, one tidy() scope per
// batch. The trainer's validation, `graft eval` and `graft predict` all run through it; the
// model's per-module train/eval modes are put back afterwards.
import type { Module } from '../nn/index.ts';
import type { SplitMetrics } from '../report/index.ts';
import { noGrad, type Tensor, tidy } from '../tensor/index.ts';
import { Meter } from './meter.ts';
import { defaultForward, defaultLoss, type ForwardFn, type LossFn, logitsOf, toDevice } from './options.ts';
import { type Batch, batchItems, disposeBatch, toBatch, toSource } from './source.ts';

export interface EvalLoopOptions {
  /** 'cpu' (default) or 'cuda:0': batches are moved there (the model must be there already) */
  device?: string;
  /** default: model.call(input) */
  forward?: ForwardFn;
  /** wraps each forward (the trainer's mixed precision) */
  wrap?: <T>(run: () => T) => T;
  /** the epoch whose order the source yields (default 0) */
  epoch?: number;
}

/** What each batch gives: the model's output, the batch on the device, its item count. */
export interface EvalStep {
  output: unknown;
  batch: Batch;
  items: number;
}

/** Yields to the event loop (signal handlers, timers): in-memory data never waits on I/O otherwise. */
export const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs the model over every batch of `data` (a BatchSource, a loader or an array of batches) in
 * eval mode without gradients and calls `each` inside the batch's tidy() scope: tensors it keeps
 * past the call must be kept (keep()) or read out.
 */
export async function forEachOutput(
  model: Module,
  data: unknown,
  o: EvalLoopOptions,
  each: (s: EvalStep) => void,
): Promise<void> {
  const source = toSource(data);
  const forward = o.forward ?? defaultForward;
  const wrap = o.wrap ?? (<T>(run: () => T): T => run());
  const device = o.device ?? 'cpu';
  const modes = [...model.modules()].map((m) => [m, m.training] as const);
  model.eval();
  try {
    for await (const raw of source.batches(o.epoch ?? 0, 0)) {
      try {
        const b = toBatch(raw);
        tidy(() =>
          noGrad(() => {
            const batch = toDevice(b, device);
            const output = wrap(() => forward(model, batch.input, batch));
            each({ output, batch, items: batchItems(batch) });
          }),
        );
      } finally {
        disposeBatch(raw);
      }
      await yieldToEventLoop();
    }
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

export interface EvaluateOptions extends EvalLoopOptions {
  /** default: cross-entropy on the logits */
  loss?: LossFn;
  /** k of the top-k accuracy (default 5) */
  topK?: number;
  numClasses?: number;
  /** accumulate into this meter (reset first) instead of a new one */
  meter?: Meter;
}

/** Loss, accuracy, top-k, macro-F1 and per-class accuracy of a model over a split: the trainer's metrics. */
export async function evaluate(model: Module, data: unknown, o: EvaluateOptions = {}): Promise<SplitMetrics> {
  const meter = o.meter ?? new Meter(o.numClasses, o.topK ?? 5);
  meter.reset();
  const lossFn = o.loss ?? defaultLoss;
  const wrap = o.wrap ?? (<T>(run: () => T): T => run());
  await forEachOutput(model, data, o, ({ output, batch, items }) => {
    const target: Tensor | undefined = batch.target;
    const loss = wrap(() => lossFn(output, target, batch));
    meter.update(loss.item(), items, logitsOf(output), target);
  });
  return meter.result();
}
