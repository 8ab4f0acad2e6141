// A recipe's groups / freeze / phases as src/finetune's RunSpec, and the check of the spec against
// the model (each failure names its recipe path).
import {
  type FreezeInput,
  type GroupsConfig,
  type PhaseSpec,
  paramGroups,
  type RunSpec,
  resolveFreeze,
} from '../finetune/index.ts';
import type { LoadReport } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { atPath } from './check.ts';
import { toSelector } from './model.ts';
import type { Recipe } from './schema.ts';

type GroupsIn = NonNullable<Recipe['groups']>;

function toGroups(g: GroupsIn | undefined): GroupsConfig | undefined {
  if (g === undefined) return undefined;
  const obj = Array.isArray(g) ? { groups: g } : g;
  const { groups, noDecay, exclude, ...rest } = obj;
  return {
    ...rest,
    ...(noDecay !== undefined ? { noDecay: typeof noDecay === 'boolean' ? noDecay : toSelector(noDecay) } : {}),
    ...(exclude !== undefined ? { exclude: toSelector(exclude) } : {}),
    groups: (groups ?? []).map(({ match, ...spec }) => ({ ...spec, match: toSelector(match) })),
  };
}

function toFreeze(f: Recipe['phases'][number]['freeze']): FreezeInput | undefined {
  if (f === undefined || f === 'none') return f;
  return {
    ...f,
    ...(f.freeze !== undefined ? { freeze: toSelector(f.freeze) } : {}),
    ...(f.train !== undefined ? { train: toSelector(f.train) } : {}),
    ...(f.bnEval !== undefined ? { bnEval: toSelector(f.bnEval) } : {}),
  };
}

/** The recipe's groups / optimizer / scheduler / phases as src/finetune's RunSpec. */
export function toRunSpec(r: Recipe, stepsPerEpoch?: number): RunSpec {
  const phases: PhaseSpec[] = r.phases.map((p) => {
    const { freeze, prune: _prune, qat: _qat, cacheFeatures: _cache, ...rest } = p;
    const f = toFreeze(freeze);
    return { ...rest, ...(f !== undefined ? { freeze: f } : {}) } as PhaseSpec;
  });
  const groups = toGroups(r.groups);
  return {
    optimizer: { ...r.optimizer },
    ...(groups ? { groups } : {}),
    ...(r.scheduler ? { scheduler: { ...r.scheduler } as RunSpec['scheduler'] } : {}),
    phases,
    ...(stepsPerEpoch ? { stepsPerEpoch } : {}),
    ...(r.bn ? { bn: r.bn } : {}),
  };
}

/** Checks groups and each phase's freeze spec against the model, naming the recipe path on failure. */
export function checkAgainstModel(model: Module, spec: RunSpec, loadReport?: LoadReport): void {
  const ctx = { model, meta: models.metaOf(model), loadReport };
  atPath('groups', () => paramGroups(model, spec.groups ?? {}, { ...ctx, defaults: { lr: spec.optimizer.lr } }));
  spec.phases.forEach((p, i) => {
    if (p.freeze !== undefined && p.freeze !== 'none')
      atPath(`phases[${i}].freeze`, () => resolveFreeze(ctx, p.freeze === 'none' ? p.freeze : { ...p.freeze }));
  });
}
