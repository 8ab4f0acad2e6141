// Shared fixture plumbing for the scheduler parity tests (fixtures: scripts/fixtures/schedule_fixtures.py).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OptimizerLike, ParamGroupLike } from '../../src/optim/types.ts';
import {
  type AnyScheduler,
  createScheduler,
  type LrLambda,
  pyPow,
  ReduceLROnPlateau,
  type SchedulerSpec,
  type SchedulerStateDict,
} from '../../src/schedule/index.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'schedule');

export type Call = null | number | [number, number];

export interface FixtureState {
  state_dict: SchedulerStateDict;
  param_groups: Record<string, unknown>[];
}

export interface FixtureCase {
  name: string;
  optimizer: 'SGD' | 'Adam';
  groups: Record<string, number>[];
  spec: SchedulerSpec;
  calls: Call[];
  lr: number[][];
  momentum?: number[][];
  beta1?: number[][];
  states: Record<string, FixtureState>;
}

/** JSON has no infinity: the generator writes {"$float": "Infinity"}. */
function revive(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$float') return Number((value as { $float: string }).$float);
  }
  return value;
}

export function loadCases(family: string): FixtureCase[] {
  const text = readFileSync(join(FIXTURES, `${family}.json`), 'utf8');
  return (JSON.parse(text, revive) as { cases: FixtureCase[] }).cases;
}

/** The generator's named lambdas (same arithmetic; `**` goes through Python's pow). */
export const LAMBDAS: Record<string, LrLambda> = {
  inv_sqrt: (e) => 1.0 / Math.sqrt(e + 1),
  exp095: (e) => pyPow(0.95, e),
  step_decay: (e) => pyPow(0.5, Math.floor(e / 10)),
  mul_099: () => 0.99,
  mul_alt: (e) => (e % 3 === 0 ? 0.9 : 1.02),
};

/** Replace lambda names in a fixture spec by the functions. */
export function resolveSpec(spec: SchedulerSpec): SchedulerSpec {
  const out: SchedulerSpec = { ...spec };
  if (typeof out.lr_lambda === 'string') out.lr_lambda = LAMBDAS[out.lr_lambda];
  else if (Array.isArray(out.lr_lambda)) out.lr_lambda = out.lr_lambda.map((n: string) => LAMBDAS[n]);
  if (Array.isArray(out.schedulers)) out.schedulers = out.schedulers.map((s: SchedulerSpec) => resolveSpec(s));
  return out;
}

/** The dummy optimizer's groups as torch.optim builds them (SGD momentum 0.9, Adam betas). */
export function makeOptimizer(c: FixtureCase): OptimizerLike {
  const paramGroups = c.groups.map((g) =>
    c.optimizer === 'Adam'
      ? ({ betas: [0.9, 0.999], ...g } as ParamGroupLike)
      : ({ momentum: 0.9, ...g } as ParamGroupLike),
  );
  return { paramGroups };
}

export function applyCall(s: AnyScheduler, call: Call): void {
  if (s instanceof ReduceLROnPlateau) {
    if (Array.isArray(call)) s.step(call[0], call[1]);
    else s.step(call as number);
  } else if (call === null) {
    s.step();
  } else {
    (s as unknown as { step(epoch: number): void }).step(call as number);
  }
}

export interface Trace {
  lr: number[][];
  momentum: number[][];
}

export function momentumOf(c: FixtureCase, opt: OptimizerLike): number[] {
  return opt.paramGroups.map((g) => (c.optimizer === 'Adam' ? g.betas![0] : g.momentum!));
}

/** Build the case's scheduler and replay its calls from `from` on, recording like the generator. */
export function replay(c: FixtureCase, opt: OptimizerLike, s: AnyScheduler, from = 0): Trace {
  const trace: Trace = { lr: [], momentum: [] };
  const record = () => {
    trace.lr.push(opt.paramGroups.map((g) => g.lr));
    if (c.momentum || c.beta1) trace.momentum.push(momentumOf(c, opt));
  };
  record();
  for (const call of c.calls.slice(from)) {
    applyCall(s, call);
    record();
  }
  return trace;
}

export function build(c: FixtureCase): { opt: OptimizerLike; s: AnyScheduler } {
  const opt = makeOptimizer(c);
  return { opt, s: createScheduler(resolveSpec(c.spec), opt) };
}

/** Bit-for-bit equality of two LR tables (assert.equal on every double). */
export function assertExact(actual: number[][], expected: number[][], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: row count`);
  expected.forEach((row, k) => {
    for (const [g, v] of row.entries()) assert.equal(actual[k]![g], v, `${label}: row ${k}, group ${g}`);
  });
}

/** Keys as graft writes them vs torch 1.13: Counter/Map -> plain object, anneal_func -> _anneal_func_type. */
export function normalizeState(v: unknown): unknown {
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, n]) => [String(k), n]));
  if (Array.isArray(v)) return v.map(normalizeState);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (k === 'anneal_func') out._anneal_func_type = String(x).includes('linear') ? 'linear' : 'cos';
      else out[k] = normalizeState(x);
    }
    return out;
  }
  return v;
}

export function groupState(opt: OptimizerLike, keys: readonly string[]): Record<string, unknown>[] {
  return opt.paramGroups.map((g) => Object.fromEntries(keys.filter((k) => k in g).map((k) => [k, g[k]])));
}
