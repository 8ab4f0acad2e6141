// The addon's lean backward entry (native/autograd_lean.cc), typed. `t.backward()` with no gradient
// given and no createGraph runs in one native call; there a lean executor replaces libtorch's
// Engine::execute when the graph allows it (CPU, no hooks, no retainGrad, no anomaly mode, no
// profiler, only libtorch's own node types), computing bit-identical gradients. GRAFT_LEAN_BACKWARD=0
// keeps the engine for every backward.
import type { Handle } from './_core.ts';
import { mapError, native } from './_core.ts';

interface LeanNative {
  /** returns whether the lean executor ran (false: Engine::execute did) */
  backwardRoot?: (h: Handle, retainGraph: boolean | undefined, lean: boolean) => boolean;
}

const entry = (native as unknown as LeanNative).backwardRoot;
const leanOn = process.env.GRAFT_LEAN_BACKWARD !== '0';

/**
 * Runs t.backward() natively; false when this addon lacks the entry (the caller then takes the
 * general path). `lean = false` forces Engine::execute (tests compare the two).
 */
export function backwardRoot(t: { readonly h: Handle }, retainGraph?: boolean, lean = leanOn): boolean {
  if (entry === undefined) return false;
  try {
    entry(t.h, retainGraph, lean);
  } catch (e) {
    throw mapError(e);
  }
  return true;
}

/** For tests: runs t.backward() and answers whether the lean executor (not the engine) ran. */
export function backwardRootTraced(
  t: { readonly h: Handle },
  retainGraph: boolean | undefined,
  lean: boolean,
): boolean {
  if (entry === undefined) throw new Error('this addon has no backwardRoot entry');
  try {
    return entry(t.h, retainGraph, lean);
  } catch (e) {
    throw mapError(e);
  }
}
