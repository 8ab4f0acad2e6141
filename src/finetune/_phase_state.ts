// Pieces of the PhaseRunner's state kept out of the class: which groups a freeze via 'lr0' pins,
// the lrs a Lightning ramp gives, and the clock read back from a stateDict.
import { ArgumentError } from '../errors.ts';
import type { RampSpec } from './_phase_parts.ts';
import type { FreezeState } from './freeze.ts';
import { groupIndices, type PlannedGroup } from './groups.ts';

/** Groups a freeze via 'lr0' pins at lr 0: whole groups only (a group half frozen is an error). */
export function pinnedGroups(groups: readonly PlannedGroup[], st: FreezeState): Set<number> {
  const pinned = new Set<number>();
  if (st.via !== 'lr0') return pinned;
  const frozen = new Set(st.frozen);
  groups.forEach((g, gi) => {
    const n = g.params.filter((x) => frozen.has(x)).length;
    if (n === g.params.length) pinned.add(gi);
    else if (n > 0)
      throw new ArgumentError(
        `freeze via 'lr0' pins whole param groups, but group '${g.name}' has ${n} of ${g.params.length} parameters frozen`,
        "make the freeze selector follow the groups, or use via 'requires-grad'",
      );
  });
  return pinned;
}

/** The ramped groups' lrs at `epoch`: factor(epoch + 1) x the previous value, capped at alignTo's lr. */
export function rampedLrs(
  r: RampSpec,
  epoch: number,
  groups: readonly PlannedGroup[],
  lrs: readonly number[],
  prev: number[],
): Map<number, number> {
  const idx = (Array.isArray(r.groups) ? r.groups : [r.groups]).flatMap((k) => groupIndices(groups, k));
  const f = typeof r.factor === 'function' ? r.factor(epoch + 1) : r.factor;
  const cap = r.alignTo === undefined ? undefined : lrs[groupIndices(groups, r.alignTo)[0]!]!;
  const out = new Map<number, number>();
  for (const gi of idx) {
    let next = f * prev[gi]!;
    if (cap !== undefined && next > cap) next = cap;
    out.set(gi, next);
    prev[gi] = next;
  }
  return out;
}

export interface RunnerClock {
  phaseIndex: number;
  epoch: number;
  step: number;
  phaseStartEpoch: number;
  phaseStartStep: number;
  finished: boolean;
  optimizerFrom: number;
}

/** The clock of a PhaseRunner.stateDict(), checked against a run of `phases` phases. */
export function readClock(sd: Record<string, unknown>, phases: number): RunnerClock {
  const num = (k: string): number => {
    const v = sd[k];
    if (typeof v !== 'number') throw new ArgumentError(`PhaseRunner.loadStateDict: '${k}' must be a number`);
    return v;
  };
  const phase = num('phase');
  if (!Number.isInteger(phase) || phase < 0 || phase >= phases)
    throw new ArgumentError(`PhaseRunner.loadStateDict: phase ${phase} is not in this run's ${phases}`);
  return {
    phaseIndex: phase,
    epoch: num('epoch'),
    step: num('step'),
    phaseStartEpoch: num('phase_start_epoch'),
    phaseStartStep: num('phase_start_step'),
    finished: Boolean(sd.finished),
    optimizerFrom: num('optimizer_from'),
  };
}
