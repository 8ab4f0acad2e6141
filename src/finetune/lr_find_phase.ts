// Walking a phase runner to the start of one of its phases without training: what the LR finder
// sweeps from (the phase's freeze, optimizer and the groups' lrs at that point).
import { ArgumentError } from '../errors.ts';
import { ReduceLROnPlateau } from '../schedule/index.ts';
import type { PhaseRunner } from './phases.ts';

/** Walks a fresh runner to the start of phase n: phase changes, lr changes and schedulers on the way, no training. */
export function enterPhase(r: PhaseRunner, n: number, stepsPerEpoch: number | undefined): void {
  const count = r.spec.phases.length;
  if (!Number.isInteger(n) || n < 0 || n >= count)
    throw new ArgumentError(
      `lr finder: phase ${n} is not in this run (${count} phase${count === 1 ? '' : 's'}: 0 to ${count - 1})`,
    );
  if (r.stepsPerEpoch === undefined && stepsPerEpoch) r.setStepsPerEpoch(stepsPerEpoch);
  let epoch = 0;
  let step = 0;
  r.onEpochStart(0);
  while (r.phaseIndex < n && !r.finished) {
    const per = r.stepsPerEpoch;
    if (per === undefined)
      throw new ArgumentError(
        `lr finder: reaching phase ${n} needs the steps per epoch`,
        'give training data of known length, or stepsPerEpoch in the run spec',
      );
    for (let b = 0; b < per && r.phaseIndex < n; b++) r.onStepEnd(step++);
    if (r.phaseIndex >= n) break;
    // ReduceLROnPlateau would need the metrics of training that does not happen here: it keeps its lrs
    if (!(r.scheduler instanceof ReduceLROnPlateau)) r.onEpochEnd(epoch, {});
    r.onEpochStart(++epoch);
  }
}
