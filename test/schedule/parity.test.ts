// Every scheduler against torch 1.13: LR (and momentum / beta1) sequences bit for bit, state
// dicts equal to PyTorch's (same keys, same order), and resuming from PyTorch's state dict.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { OptimizerLike } from '../../src/optim/types.ts';
import { assertExact, build, type FixtureCase, groupState, loadCases, normalizeState, replay } from './_helpers.ts';

const FAMILIES = ['basic', 'cosine', 'onecycle', 'lambda', 'compose', 'plateau'];
const GROUP_KEYS = ['lr', 'initial_lr', 'momentum', 'betas', 'max_lr', 'min_lr', 'max_momentum', 'base_momentum'];

/** Keys in order, recursively: PyTorch's state dicts are `self.__dict__` in insertion order. */
function keyOrder(v: unknown, prefix = ''): string[] {
  if (Array.isArray(v)) return v.flatMap((x, i) => keyOrder(x, `${prefix}[${i}]`));
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).flatMap(([k, x]) => [`${prefix}.${k}`, ...keyOrder(x, `${prefix}.${k}`)]);
  }
  return [];
}

function setGroups(opt: OptimizerLike, groups: Record<string, unknown>[]): void {
  groups.forEach((g, i) => {
    for (const [k, v] of Object.entries(g)) opt.paramGroups[i]![k] = Array.isArray(v) ? [...v] : v;
  });
}

function momentumRows(c: FixtureCase): number[][] | undefined {
  return c.momentum ?? c.beta1;
}

for (const family of FAMILIES) {
  describe(`${family} schedulers match torch 1.13`, () => {
    for (const c of loadCases(family)) {
      test(c.name, () => {
        const { opt, s } = build(c);
        const trace = replay(c, opt, s);
        assertExact(trace.lr, c.lr, `${c.name} lr`);
        const mom = momentumRows(c);
        if (mom) assertExact(trace.momentum, mom, `${c.name} momentum`);

        // State dicts at the recorded points: equal values, same keys in the same order.
        for (const [at, expected] of Object.entries(c.states)) {
          const fresh = build(c);
          replay({ ...c, calls: c.calls.slice(0, Number(at)) }, fresh.opt, fresh.s);
          const actual = normalizeState(fresh.s.stateDict());
          const want = normalizeState(expected.state_dict);
          assert.deepEqual(actual, want, `${c.name}: state_dict after ${at} calls`);
          assert.deepEqual(keyOrder(actual), keyOrder(want), `${c.name}: state_dict key order after ${at} calls`);
          assert.deepEqual(groupState(fresh.opt, GROUP_KEYS), expected.param_groups, `${c.name}: param groups`);
          assert.deepEqual(fresh.s.getLastLr(), c.lr[Number(at)], `${c.name}: getLastLr()`);
        }
      });

      test(`${c.name}: resumes from PyTorch's state dict`, () => {
        for (const [at, st] of Object.entries(c.states)) {
          const k = Number(at);
          const { opt, s } = build(c);
          setGroups(opt, st.param_groups);
          s.loadStateDict(structuredClone(st.state_dict));
          const trace = replay(c, opt, s, k);
          assertExact(trace.lr, c.lr.slice(k), `${c.name} resumed at ${k}`);
          const mom = momentumRows(c);
          if (mom) assertExact(trace.momentum, mom.slice(k), `${c.name} momentum resumed at ${k}`);
        }
      });

      test(`${c.name}: graft state dict round trip`, () => {
        const k = Number(Object.keys(c.states)[0] ?? 0);
        const first = build(c);
        replay({ ...c, calls: c.calls.slice(0, k) }, first.opt, first.s);
        const saved = structuredClone(first.s.stateDict());
        const groups = structuredClone(groupState(first.opt, GROUP_KEYS));
        const { opt, s } = build(c);
        setGroups(opt, groups);
        s.loadStateDict(saved);
        assert.deepEqual(normalizeState(s.stateDict()), normalizeState(saved));
        assertExact(replay(c, opt, s, k).lr, c.lr.slice(k), `${c.name} round trip at ${k}`);
      });
    }
  });
}
