// Freezing: which parameters learn. By selector (glob, regex, module path, negation), by the
// model's first N layer groups (fastai's freeze_to), or "lr = 0" (the phase runner pins whole
// param groups at 0). A BatchNorm policy says what happens to BatchNorm layers in frozen parts;
// eval-mode BatchNorms are held by forward pre-hooks, so model.train() cannot undo them.
import { ArgumentError } from '../errors.ts';
import { BatchNorm1d, BatchNorm2d, type Module } from '../nn/index.ts';
import { ParamIndex, type SelectContext, type Selector } from './select.ts';

/**
 * What happens to a BatchNorm layer inside a frozen part:
 * - `train`: affine weights and running statistics keep training (fastai's and Lightning's train_bn)
 * - `freeze-stats`: affine weights train, the layer runs in eval mode (running statistics fixed)
 * - `freeze-affine`: affine weights frozen, statistics still move (what requires_grad=False alone does in PyTorch)
 * - `freeze-all` (default): affine weights frozen and eval mode: nothing in it changes (Keras' trainable=False)
 */
export type BnPolicy = 'train' | 'freeze-stats' | 'freeze-affine' | 'freeze-all';
export const BN_POLICIES: readonly BnPolicy[] = ['train', 'freeze-stats', 'freeze-affine', 'freeze-all'];

export type FreezeVia = 'requires-grad' | 'lr0';

export interface FreezeSpec {
  /** parameters to freeze; '*' is everything */
  freeze?: Selector;
  /** fastai's freeze_to(n): layer groups before n frozen; negative counts from the end (-1: all but the last) */
  freezeTo?: number;
  /** exceptions that stay trainable, applied after freeze / freezeTo: { freeze: '*', train: 'fc' } */
  train?: Selector;
  /** BatchNorm layers inside the frozen part; default 'freeze-all' */
  bn?: BnPolicy;
  /** BatchNorm layers that run in eval mode whether frozen or not (Keras' base_model(x, training=False)) */
  bnEval?: Selector;
  /**
   * 'requires-grad' (default): frozen parameters get requiresGrad false, so they get no gradient and
   * every optimizer skips them. 'lr0': they keep their gradients and the phase runner pins their
   * param groups at lr 0 (whole groups only); parameters stay bit-identical, optimizer state still moves.
   */
  via?: FreezeVia;
}

/** 'none' (everything trains) or a spec. */
export type FreezeInput = FreezeSpec | 'none';

export interface FreezeState {
  /** parameters that do not learn, model order */
  frozen: string[];
  trainable: string[];
  /** module paths of BatchNorm layers held in eval mode */
  bnEval: string[];
  bn: BnPolicy;
  via: FreezeVia;
}

const isBn = (m: Module): boolean => m instanceof BatchNorm1d || m instanceof BatchNorm2d;

/** The BatchNorm modules of a model with their parameter names (empty without affine). */
function batchNorms(model: Module): { path: string; module: Module; params: string[] }[] {
  const out: { path: string; module: Module; params: string[] }[] = [];
  for (const [path, m] of model.namedModules())
    if (isBn(m)) out.push({ path, module: m, params: [...m.namedParameters({ prefix: path })].map(([n]) => n) });
  return out;
}

// a BatchNorm without affine weights belongs to a set when its parent's parameters all do
function covered(bn: { path: string; params: string[] }, names: string[], set: Set<string>): boolean {
  if (bn.params.length) return bn.params.every((n) => set.has(n));
  const i = bn.path.lastIndexOf('.');
  const parent = i < 0 ? '' : bn.path.slice(0, i);
  const sib = names.filter((n) => parent === '' || n.startsWith(`${parent}.`));
  return sib.length > 0 && sib.every((n) => set.has(n));
}

/** The frozen set a spec describes, without touching the model (plans use this). */
export function resolveFreeze(ctx: SelectContext | Module | ParamIndex, spec: FreezeInput = 'none'): FreezeState {
  const index = ctx instanceof ParamIndex ? ctx : new ParamIndex(ctx);
  const s: FreezeSpec = spec === 'none' ? {} : spec;
  if (s === null || typeof s !== 'object') throw new ArgumentError(`freeze spec must be an object or 'none', got ${s}`);
  const bn = s.bn ?? 'freeze-all';
  if (!BN_POLICIES.includes(bn))
    throw new ArgumentError(`bn policy must be one of ${BN_POLICIES.join(', ')}, got '${bn}'`);
  const via = s.via ?? 'requires-grad';
  if (via !== 'requires-grad' && via !== 'lr0')
    throw new ArgumentError(`freeze via must be 'requires-grad' or 'lr0', got '${via}'`);
  const frozen = new Set<string>();
  if (s.freeze !== undefined) for (const n of index.select(s.freeze)) frozen.add(n);
  if (s.freezeTo !== undefined) for (const n of index.select(freezeToSelector(index, s.freezeTo))) frozen.add(n);
  if (s.train !== undefined) for (const n of index.select(s.train)) frozen.delete(n);
  const bnEval = new Set<string>();
  const evalSet = s.bnEval === undefined ? new Set<string>() : new Set(index.select(s.bnEval));
  const before = new Set(frozen);
  for (const b of batchNorms(index.model)) {
    if (covered(b, index.names, before)) {
      if (bn === 'train' || bn === 'freeze-stats') for (const n of b.params) frozen.delete(n);
      if (bn === 'freeze-stats' || bn === 'freeze-all') bnEval.add(b.path);
    }
    if (s.bnEval !== undefined && covered(b, index.names, evalSet)) bnEval.add(b.path);
  }
  return {
    frozen: index.names.filter((n) => frozen.has(n)),
    trainable: index.names.filter((n) => !frozen.has(n)),
    bnEval: [...bnEval],
    bn,
    via,
  };
}

/** fastai's freeze_to(n) as a selector: layer groups [0, n) (n < 0 counts from the end). */
export function freezeToSelector(index: ParamIndex, n: number): Selector {
  const meta = index.meta;
  if (!meta)
    throw new ArgumentError(
      `freezeTo needs layer groups: ${index.model.constructor.name} has no model metadata`,
      'build it with models.create(name) or attach metadata with models.setMeta(model, meta)',
    );
  const len = meta.groups.length;
  if (!Number.isInteger(n) || n > len || n < -len)
    throw new ArgumentError(
      `freezeTo(${n}): ${meta.name} has ${len} layer groups (${meta.groups.map((g) => g.name).join(', ')})`,
      `use an integer from ${-len} to ${len}`,
    );
  const k = n >= 0 ? n : len + n;
  return Array.from({ length: k }, (_, i) => ({ group: i }));
}

/**
 * Applies freeze states to one model and keeps its BatchNorm eval-mode hooks. One per model
 * (freezerOf); the phase runner and the free functions below share it.
 */
export class Freezer {
  readonly model: Module;
  #state: FreezeState;
  #hooks = new Map<Module, () => void>();
  ctx: Omit<SelectContext, 'model'>;

  constructor(model: Module, ctx: Omit<SelectContext, 'model'> = {}) {
    this.model = model;
    this.ctx = ctx;
    this.#state = resolveFreeze({ model, ...ctx }, 'none');
  }

  get state(): FreezeState {
    return this.#state;
  }

  index(): ParamIndex {
    return new ParamIndex({ model: this.model, ...this.ctx });
  }

  /** Makes exactly the spec's parameters frozen (the rest trainable) and sets the BatchNorm hooks. */
  apply(spec: FreezeInput | FreezeState): FreezeState {
    const st = typeof spec === 'object' && 'frozen' in spec ? (spec as FreezeState) : resolveFreeze(this.index(), spec);
    const frozen = new Set(st.via === 'requires-grad' ? st.frozen : []);
    for (const [name, p] of this.model.namedParameters()) {
      const want = !frozen.has(name);
      if (p.requiresGrad === want) continue;
      p.requiresGrad = want;
      // a stale gradient would still be applied by the next optimizer step
      if (!want) p.zeroGrad();
    }
    const evalPaths = new Set(st.bnEval);
    for (const [path, m] of this.model.namedModules()) {
      if (!isBn(m)) continue;
      const hooked = this.#hooks.get(m);
      if (evalPaths.has(path) && !hooked) {
        m.training = false;
        this.#hooks.set(
          m,
          m.registerForwardPreHook((mod) => {
            mod.training = false;
            return undefined;
          }),
        );
      } else if (!evalPaths.has(path) && hooked) {
        hooked();
        this.#hooks.delete(m);
        m.training = this.model.training;
      }
    }
    this.#state = st;
    return st;
  }

  /** Puts the held BatchNorms back in eval mode now (the hooks do it at each forward anyway). */
  reapply(): void {
    for (const m of this.#hooks.keys()) m.training = false;
  }

  /** Removes the BatchNorm hooks (the modules follow model.train()/eval() again); freezing stays. */
  release(): void {
    for (const [m, off] of this.#hooks) {
      off();
      m.training = this.model.training;
    }
    this.#hooks.clear();
  }
}

const freezers = new WeakMap<Module, Freezer>();

/** The model's Freezer (created on first use). */
export function freezerOf(model: Module, ctx?: Omit<SelectContext, 'model'>): Freezer {
  let f = freezers.get(model);
  if (!f) {
    f = new Freezer(model, ctx);
    freezers.set(model, f);
  } else if (ctx) f.ctx = { ...f.ctx, ...ctx };
  return f;
}

export interface FreezeOptions extends Omit<SelectContext, 'model'> {
  bn?: BnPolicy;
}

/** Declarative: exactly what the spec freezes, the rest trainable. */
export function applyFreeze(model: Module, spec: FreezeInput, ctx?: Omit<SelectContext, 'model'>): FreezeState {
  return freezerOf(model, ctx).apply(spec);
}

/** Freezes the selected parameters (default all) on top of what is already frozen. */
export function freeze(model: Module, selector: Selector = '*', o: FreezeOptions = {}): FreezeState {
  const f = freezerOf(model, ctxOf(o));
  const prev = f.state.frozen;
  return f.apply({ freeze: prev.length ? [prev, selector] : selector, bn: o.bn ?? f.state.bn });
}

/** Unfreezes the selected parameters (default all). */
export function unfreeze(model: Module, selector: Selector = '*', o: FreezeOptions = {}): FreezeState {
  const f = freezerOf(model, ctxOf(o));
  const prev = f.state.frozen;
  return f.apply({ freeze: prev, train: selector, bn: o.bn ?? f.state.bn });
}

/** fastai's freeze_to(n): layer groups before n frozen, the rest trainable (n = -1: only the last group trains). */
export function freezeTo(model: Module, n: number, o: FreezeOptions = {}): FreezeState {
  return freezerOf(model, ctxOf(o)).apply({ freezeTo: n, bn: o.bn });
}

function ctxOf(o: FreezeOptions): Omit<SelectContext, 'model'> | undefined {
  return o.meta || o.loadReport ? { meta: o.meta, loadReport: o.loadReport } : undefined;
}

/** "Print requires_grad to check the idea was implemented", as rows. */
export function requiresGradTable(model: Module): { name: string; shape: number[]; requiresGrad: boolean }[] {
  return [...model.namedParameters()].map(([name, p]) => ({ name, shape: p.shape, requiresGrad: p.requiresGrad }));
}
