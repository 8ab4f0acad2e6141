// Where the frozen prefix ends, and whether its output can be computed once: every parameter in it
// frozen, every BatchNorm in it held in eval mode (running statistics fixed), no dropout or
// stochastic depth active in it, and inputs without random augmentation. Also the checksum that
// notices when the prefix's weights change between epochs (a load, a pruning step, an unfreeze).
import { BatchNorm1d, BatchNorm2d, Dropout, type Module } from '../nn/index.ts';
import { aten, DTYPE_BYTES, DTYPE_CODE, type DType, type Tensor, tidy } from '../tensor/index.ts';
import type { Stage } from './feature_cache_stages.ts';

/** What the cut reads about the model: the running model's flags, or a plan's freeze state. */
export interface CutView {
  /** the parameter does not learn (requiresGrad false) */
  frozen(name: string): boolean;
  /** the BatchNorm at this path runs in eval mode during training */
  bnHeld(path: string, m: Module): boolean;
  /** the prefix runs in training mode (dropout active); false for validation */
  training: boolean;
}

export interface Cut {
  /** stages [0, cut) form the cached prefix; 0: nothing to cache */
  cut: number;
  /** why the prefix stops where it does (the first stage that cannot be cached), when it stops early */
  stop?: string;
}

const isBn = (m: Module): boolean => m instanceof BatchNorm1d || m instanceof BatchNorm2d;

/** Dropout, StochasticDepth and anything named like them draw random numbers in training. */
function randomIn(m: Module): boolean {
  const p = (m as { p?: unknown }).p;
  const named = m instanceof Dropout || /Drop|StochasticDepth/.test(m.constructor.name);
  return named && (typeof p !== 'number' || p > 0);
}

/**
 * Why stage `s` cannot be part of a cached prefix, or undefined when it can. Hooks inside a stage run
 * as usual (the Freezer's BatchNorm hooks are there); only hooked Sequentials are never opened up.
 */
function stageProblem(model: Module, s: Stage, view: CutView): string | undefined {
  for (const path of s.paths) {
    const root = model.getSubmodule(path);
    for (const [name] of root.namedParameters({ prefix: path })) if (!view.frozen(name)) return `${name} trains`;
    for (const [sub, m] of root.namedModules(path)) {
      if (isBn(m) && !view.bnHeld(sub, m)) return `BatchNorm ${sub} runs in train mode (its running statistics move)`;
      if (view.training && randomIn(m)) return `${m.constructor.name} ${sub} is active in training (random)`;
      // other state a forward may update (quantization observers, running averages); pruning masks only change between steps
      const state = isBn(m)
        ? []
        : [...m.namedBuffers({ recurse: false })].map(([n]) => n).filter((n) => !n.endsWith('_mask'));
      if (state.length) return `${m.constructor.name} ${sub} keeps state its forward may update (${state.join(', ')})`;
    }
  }
  return undefined;
}

/** The longest prefix of stages that can be cached; something must train after it. */
export function findCut(model: Module, stages: readonly Stage[], view: CutView): Cut {
  let cut = 0;
  let stop: string | undefined;
  for (; cut < stages.length; cut++) {
    stop = stageProblem(model, stages[cut]!, view);
    if (stop) break;
  }
  if (cut === stages.length) return { cut: 0, stop: 'nothing trains after the frozen part' };
  // a prefix of parameter-free stages only (an activation, a pool) saves nothing worth a cache
  const work = stages.slice(0, cut).some((s) => s.paths.some((p) => model.getSubmodule(p).parameters().length > 0));
  if (!work) return { cut: 0, stop: `${stages[cut]!.name}: ${stop}` };
  return { cut, stop: stop && `${stages[cut]!.name}: ${stop}` };
}

/** The view of a running model: requiresGrad and each BatchNorm's current mode (the Freezer holds frozen ones in eval). */
export function liveView(model: Module, training: boolean, held?: readonly string[]): CutView {
  const params = new Map(model.namedParameters());
  const heldSet = new Set(held ?? []);
  return {
    frozen: (n) => params.get(n)?.requiresGrad === false,
    // validation runs everything in eval mode: a BatchNorm counts as held when the Freezer holds it
    bnHeld: (path, m) => (training ? !m.training : heldSet.has(path)),
    training,
  };
}

/** Transforms whose output is the same every epoch; anything else is random (or unknown, so treated as random). */
const FIXED = new Set(['resize', 'centerCrop', 'normalize', 'grayscale', 'toTensor', 'pad']);
const ZERO_P = new Set(['randomHorizontalFlip', 'randomVerticalFlip', 'randomGrayscale']);

/** The random transforms of a pipeline (a flip with p = 0 is not random), by type. */
export function randomTransforms(list: readonly { type: string; p?: number }[]): string[] {
  return list.filter((t) => !FIXED.has(t.type) && !(ZERO_P.has(t.type) && t.p === 0)).map((t) => t.type);
}

/**
 * What identifies the prefix's weights now: per parameter and buffer, the tensor's identity, its
 * version counter (libtorch bumps it on every in-place write: an optimizer step, a load's copy_, a
 * pruning mask) and the bits of up to 256 evenly spaced elements (a tensor whose data was swapped
 * without a write, as Module.to does). Costs microseconds per tensor, not a pass over the weights.
 */
export function prefixFingerprint(model: Module, stages: readonly Stage[], cut: number): string {
  const parts: string[] = [];
  for (const s of stages.slice(0, cut))
    for (const path of s.paths) {
      const m = model.getSubmodule(path);
      const all: [string, Tensor][] = [...m.namedParameters({ prefix: path }), ...m.namedBuffers({ prefix: path })];
      for (const [name, t] of all) {
        let id = tensorIds.get(t);
        if (id === undefined) {
          id = nextId++;
          tensorIds.set(t, id);
        }
        parts.push(`${name}#${id}v${version(t)}:${sampleSum(t)}`);
      }
    }
  return parts.join(';');
}

const tensorIds = new WeakMap<Tensor, number>();
let nextId = 1;
const version = (t: Tensor): number => aten('aten::_version')(t) as unknown as number;

const WORD: Record<number, DType> = { 1: 'uint8', 2: 'int16', 4: 'int32', 8: 'int64' };
const SAMPLES = 256;

function sampleSum(t: Tensor): string {
  const n = t.numel();
  if (n === 0) return '0';
  return tidy(() => {
    const flat = t.reshape(-1);
    const some = n <= SAMPLES ? flat : flat.slice(0, 0, n, Math.ceil(n / SAMPLES));
    const words = t.isFloatingPoint
      ? (aten('aten::view', 'dtype')(some.contiguous(), DTYPE_CODE[WORD[DTYPE_BYTES[t.dtype]]!]) as Tensor)
      : some;
    return String((aten('aten::sum')(words, DTYPE_CODE.int64) as Tensor).item());
  });
}

/** Bytes for people: KB below a megabyte, MB below a gigabyte, GB above. */
export function fmtBytes(b: number): string {
  if (b < 2 ** 20) return `${(b / 2 ** 10).toFixed(1)} KB`;
  if (b < 2 ** 30) return `${(b / 2 ** 20).toFixed(1)} MB`;
  return `${(b / 2 ** 30).toFixed(2)} GB`;
}
