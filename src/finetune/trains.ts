// "Nothing trains" before any compute: a phase whose freeze spec leaves no parameter trainable, or
// whose trainable parameters are all outside the optimizer's groups, would reach libtorch's raw
// "element 0 of tensors does not require grad" (or silently change nothing); a phase freezing via
// lr 0 part of a group would stop the run when it starts. Checked for every phase when a run is
// built, so plans, recipe runs and API runs all say so up front.
import { ArgumentError } from '../errors.ts';
import type { PhaseSpec } from './_phase_parts.ts';
import { type BnPolicy, type FreezeInput, resolveFreeze } from './freeze.ts';
import type { ParamGroups } from './groups.ts';
import type { ParamIndex } from './select.ts';

/** Throws an ArgumentError naming the first phase in which no parameter would learn (or lr0 splits a group). */
export function checkSomethingTrains(
  index: ParamIndex,
  spec: { phases: readonly PhaseSpec[]; bn?: BnPolicy },
  groups: Pick<ParamGroups, 'groups' | 'excluded'>,
): void {
  const held = new Set(groups.groups.flatMap((g) => g.params));
  let freeze: FreezeInput = 'none';
  spec.phases.forEach((p, i) => {
    if (p.freeze !== undefined) freeze = p.freeze;
    const f: FreezeInput = freeze === 'none' ? freeze : { ...freeze, bn: freeze.bn ?? spec.bn };
    const st = resolveFreeze(index, f);
    const where = `phase ${i}${p.name ? ` '${p.name}'` : ''}`;
    if (st.via === 'lr0') {
      // lr 0 pins whole groups: the runner would stop at this phase's start, epochs into the run
      const frozen = new Set(st.frozen);
      for (const g of groups.groups) {
        const k = g.params.filter((n) => frozen.has(n)).length;
        if (k > 0 && k < g.params.length)
          throw new ArgumentError(
            `${where}: freeze via 'lr0' pins whole param groups, but group '${g.name}' has ${k} of ${g.params.length} parameters frozen`,
            "make the freeze selector follow the groups, or use via 'requires-grad'",
          );
      }
    }
    if (st.trainable.some((n) => held.has(n))) return;
    const why =
      st.trainable.length === 0
        ? `every one of the ${index.names.length} parameters is frozen`
        : `its ${st.trainable.length} trainable parameters are in no optimizer group (groups exclude them)`;
    throw new ArgumentError(
      `${where}: nothing trains: ${why}`,
      st.trainable.length === 0
        ? "leave something trainable, e.g. freeze: { freeze: '*', train: fc }, or freeze: none"
        : 'drop them from groups.exclude, or freeze them too',
    );
  });
}
