// Checkpoint trees of a trainer and restoring them: the state exact resume needs (model,
// optimizer, scheduler, phase runner, grad scaler, position, RNG seed, meters, callbacks).
import { readCheckpoint, stateDictTensors } from './checkpoint.ts';
import { TrainError } from './errors.ts';
import type { MetricMap } from './runner.ts';
import type { Trainer } from './trainer.ts';

/** Everything a resume needs, as a tree for writeCheckpoint (the trainer is at a step boundary). */
export function checkpointTree(t: Trainer): Record<string, unknown> {
  const { epoch, batch } = t.position;
  const callbacks: Record<string, unknown> = {};
  for (const cb of t.callbacks) if (cb.stateDict && cb.name) callbacks[cb.name] = cb.stateDict();
  return {
    model: t.model.stateDict(),
    optimizer: t.optimizer.stateDict(),
    scheduler: t.scheduler?.stateDict() ?? null,
    runner: t.runner.stateDict(),
    scaler: t.scaler?.stateDict() ?? null,
    epoch,
    batch,
    step: t.step,
    rng: { seed: t.seed, epoch, batch },
    metrics: t.metrics,
    trainer: {
      train_meter: t.trainMeter.stateDict(),
      phase: t.phase ?? null,
      epochs: t.epochs,
      best: t.best ?? null,
      monitor: t.monitor,
    },
    callbacks,
  };
}

/** Loads a checkpoint into a trainer: model, phase, optimizer, scheduler, scaler, position, meters, callbacks. */
export function restoreFrom(t: Trainer, path: string): void {
  const { tree, raw } = readCheckpoint(path);
  if (tree.rng && Number(tree.rng.seed) !== t.seed)
    throw new TrainError(
      'GRAFT_TRAIN_RESUME',
      `${path} was trained with seed ${tree.rng.seed}, this run has seed ${t.seed}: batches would differ`,
      {},
      `pass seed: ${tree.rng.seed}`,
    );
  const weights = stateDictTensors(raw.get('model'), path);
  try {
    t.model.loadStateDict(weights);
  } finally {
    for (const w of weights.values()) w.dispose();
  }
  // a phase runner's own state carries its optimizer and scheduler (it rebuilds them after a switch)
  const runnerState = (tree.runner ?? {}) as Record<string, unknown>;
  t.runner.loadStateDict(runnerState);
  if (!('optimizer' in runnerState)) t.optimizer.loadStateDict(raw.get('optimizer') as never);
  if (tree.scheduler && t.scheduler && !('scheduler' in runnerState)) t.scheduler.loadStateDict(tree.scheduler);
  if (tree.scaler && t.scaler) t.scaler.loadStateDict(tree.scaler);
  t.step = Number(tree.step);
  t.position = { epoch: Number(tree.epoch), batch: Number(tree.batch) };
  t.metrics = (tree.metrics as MetricMap) ?? {};
  if (tree.trainer?.train_meter) t.trainMeter.loadStateDict(tree.trainer.train_meter);
  t.best = tree.trainer?.best ?? undefined;
  for (const cb of t.callbacks) {
    const st = cb.name ? tree.callbacks?.[cb.name] : undefined;
    if (st && cb.loadStateDict) cb.loadStateDict(st);
  }
  t.resumedFrom = path;
  t.lastCheckpoint = path;
}
