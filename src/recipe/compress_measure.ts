// Measuring a model for the compression records: forward latency over one validation batch and the
// calibration batches static quantization observes, the sparsity a pruning reached.
import type { DataLoader } from '../data/index.ts';
import type { Conv2d, Linear, Module } from '../nn/index.ts';
import * as prune from '../prune/index.ts';
import { noGrad, tidy } from '../tensor/index.ts';
import { disposeBatch, type Trainer, toBatch } from '../train/index.ts';

/** model(input), or model(...input) for an array (the trainer's default forward). */
export const plainForward: Trainer['forwardFn'] = (model, input) =>
  Array.isArray(input) ? (model.call as (...a: unknown[]) => unknown)(...input) : model.call(input);

/** Median milliseconds of a forward pass over one batch (a warm-up pass first). */
export async function latency(
  model: Module,
  loader: DataLoader | undefined,
  forward: Trainer['forwardFn'],
  runs = 5,
): Promise<number | undefined> {
  if (!loader) return undefined;
  // eval mode, as the accuracy was measured: a forward in train mode would move BatchNorm's running
  // statistics (and so the weights exported after this) and run dropout
  const modes = [...model.modules()].map((m) => [m, m.training] as const);
  model.eval();
  try {
    for await (const raw of loader.iterate({ epoch: 0 })) {
      try {
        const batch = toBatch(raw);
        const times: number[] = [];
        noGrad(() => {
          for (let i = 0; i <= runs; i++) {
            const t0 = performance.now();
            tidy(() => void forward(model, batch.input, batch));
            if (i > 0) times.push(performance.now() - t0);
          }
        });
        times.sort((a, b) => a - b);
        return times[Math.floor(times.length / 2)];
      } finally {
        disposeBatch(raw);
      }
    }
    return undefined;
  } finally {
    for (const [m, t] of modes) m.training = t;
  }
}

/** The first `n` training batches' inputs, for calibration. */
export async function calibrationInputs(
  loader: DataLoader,
  n: number,
): Promise<{ inputs: unknown[]; dispose(): void }> {
  const raws: unknown[] = [];
  const inputs: unknown[] = [];
  for await (const raw of loader.iterate({ epoch: 0 })) {
    raws.push(raw);
    inputs.push(toBatch(raw).input);
    if (inputs.length >= n) break;
  }
  return {
    inputs,
    dispose: () => {
      for (const r of raws) disposeBatch(r);
    },
  };
}

/** The share of zeros in the pruned weights (masks as they are now). */
export function targetSparsity(targets: [Module, string][]): number {
  let zeros = 0;
  let numel = 0;
  noGrad(() =>
    tidy(() => {
      for (const [m, n] of targets) {
        prune.recompute(m, n);
        const w = (m as Conv2d | Linear).weight;
        zeros += w.eq(0).sum().item();
        numel += w.numel();
      }
    }),
  );
  return numel ? zeros / numel : 0;
}
