// Module: named parameters, buffers and children in registration order, as torch.nn.Module.
import { ArgumentError } from '../errors.ts';
import { type DType, isDType, isFloating, noGrad, type Tensor, tidy } from '../tensor/index.ts';
import { type SizeMismatch, StateDictError } from './_errors.ts';
import { Parameter } from './parameter.ts';

export type StateDict = Map<string, Tensor>;
export type StateDictLike = Map<string, Tensor> | Record<string, Tensor>;
export type ToTarget = DType | string | { dtype?: DType; device?: string };

export interface LoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

export type ForwardPreHook = (module: Module, args: unknown[]) => unknown[] | undefined;
export type ForwardHook = (module: Module, args: unknown[], output: unknown) => unknown;

function checkName(kind: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('.'))
    throw new ArgumentError(`${kind} name '${name}' must be a non-empty string without '.'`);
}

export abstract class Module {
  /** train(true) / eval() set this on the whole tree. */
  training = true;
  readonly #params = new Map<string, Parameter | undefined>();
  readonly #buffers = new Map<string, Tensor | undefined>();
  readonly #nonPersistent = new Set<string>();
  readonly #modules = new Map<string, Module | undefined>();
  readonly #preHooks = new Set<ForwardPreHook>();
  readonly #hooks = new Set<ForwardHook>();

  abstract forward(...args: any[]): any;

  /**
   * Runs forward with the registered hooks (PyTorch's module(x)). Intermediates are freed as
   * soon as the module returns, as Python's refcounting frees them: what backward needs is
   * held by the autograd graph, not by these handles. A forward must return its tensors
   * (a tensor, or arrays / plain objects of them), not keep them elsewhere.
   */
  call(...args: Parameters<this['forward']>): ReturnType<this['forward']> {
    return tidy(() => {
      let a: unknown[] = args;
      for (const h of this.#preHooks) a = h(this, a) ?? a;
      let out = this.forward(...a);
      for (const h of this.#hooks) {
        const r = h(this, a, out);
        if (r !== undefined) out = r;
      }
      return out;
    });
  }

  /** Whether this module (not its children) has forward hooks or pre-hooks registered. */
  get hasHooks(): boolean {
    return this.#preHooks.size + this.#hooks.size > 0;
  }

  registerForwardPreHook(h: ForwardPreHook): () => void {
    this.#preHooks.add(h);
    return () => this.#preHooks.delete(h);
  }
  registerForwardHook(h: ForwardHook): () => void {
    this.#hooks.add(h);
    return () => this.#hooks.delete(h);
  }

  // ---- registration (order = PyTorch attribute order = state-dict order) ----

  /** Registers (or replaces, keeping its position) a parameter; a plain Tensor is wrapped in a Parameter. */
  registerParameter<T extends Tensor | undefined>(name: string, p: T): T extends Tensor ? Parameter : undefined {
    checkName('parameter', name);
    if (this.#buffers.has(name) || this.#modules.has(name))
      throw new ArgumentError(`'${name}' is already a buffer or submodule of ${this.constructor.name}`);
    const param = p === undefined || p instanceof Parameter ? p : new Parameter(p);
    const old = this.#params.get(name);
    this.#params.set(name, param);
    this.#patch(old, param);
    return param as any;
  }

  /** Registers a buffer; non-persistent buffers stay out of stateDict(). The module owns (keeps) it. */
  registerBuffer<T extends Tensor | undefined>(name: string, t: T, opts: { persistent?: boolean } = {}): T {
    checkName('buffer', name);
    if (this.#params.has(name) || this.#modules.has(name))
      throw new ArgumentError(`'${name}' is already a parameter or submodule of ${this.constructor.name}`);
    t?.keep();
    const old = this.#buffers.get(name);
    this.#buffers.set(name, t);
    if (opts.persistent === false) this.#nonPersistent.add(name);
    else this.#nonPersistent.delete(name);
    this.#patch(old, t);
    return t;
  }

  /** Registers (or replaces, keeping its position) a child module. */
  registerModule<M extends Module | undefined>(name: string, m: M): M {
    checkName('module', name);
    if (this.#params.has(name) || this.#buffers.has(name))
      throw new ArgumentError(`'${name}' is already a parameter or buffer of ${this.constructor.name}`);
    if (m !== undefined && !(m instanceof Module)) throw new ArgumentError(`registerModule('${name}'): not a Module`);
    const old = this.#modules.get(name);
    this.#modules.set(name, m);
    this.#patch(old, m);
    return m;
  }

  /**
   * Removes a parameter's entry (Python's `del module._parameters[name]`): a later
   * registerParameter(name) appends it at the end, as PyTorch's state-dict order does.
   * Fields keep their value; the caller reassigns them. Used by prune (weight -> weight_orig).
   */
  deleteParameter(name: string): Parameter | undefined {
    const p = this.#params.get(name);
    this.#params.delete(name);
    return p;
  }

  /** Removes a buffer's entry (Python's `del module._buffers[name]`); see deleteParameter. */
  deleteBuffer(name: string): Tensor | undefined {
    const b = this.#buffers.get(name);
    this.#buffers.delete(name);
    this.#nonPersistent.delete(name);
    return b;
  }

  // fields that hold a replaced value point to the new one, so forward() sees it
  #patch(old: unknown, value: unknown): void {
    if (old === undefined || old === value) return;
    const self = this as Record<string, unknown>;
    for (const k of Object.keys(self)) if (self[k] === old) self[k] = value;
  }

  // ---- traversal ----

  /** Registered children as stored: duplicates kept, empty slots skipped (Sequential iterates these). */
  protected childEntries(): [string, Module][] {
    return [...this.#modules].filter((e): e is [string, Module] => e[1] !== undefined);
  }

  *namedChildren(): Generator<[string, Module]> {
    const seen = new Set<Module>();
    for (const [n, m] of this.#modules)
      if (m && !seen.has(m)) {
        seen.add(m);
        yield [n, m];
      }
  }
  *children(): Generator<Module> {
    for (const [, m] of this.namedChildren()) yield m;
  }

  /** Pre-order, self first with name '' (or prefix), each module once. */
  *namedModules(prefix = '', memo = new Set<Module>()): Generator<[string, Module]> {
    if (memo.has(this)) return;
    memo.add(this);
    yield [prefix, this];
    for (const [n, m] of this.#modules) if (m) yield* m.namedModules(prefix ? `${prefix}.${n}` : n, memo);
  }
  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Each parameter once (tied weights under their first name), in state-dict order. */
  *namedParameters(opts: { prefix?: string; recurse?: boolean } = {}): Generator<[string, Parameter]> {
    const seen = new Set<Tensor>();
    const mods = opts.recurse === false ? [[opts.prefix ?? '', this] as const] : this.namedModules(opts.prefix ?? '');
    for (const [mp, m] of mods)
      for (const [n, p] of m.#params)
        if (p && !seen.has(p)) {
          seen.add(p);
          yield [mp ? `${mp}.${n}` : n, p];
        }
  }
  parameters(opts: { recurse?: boolean } = {}): Parameter[] {
    return Array.from(this.namedParameters(opts), ([, p]) => p);
  }

  /** Persistent and non-persistent buffers, each once. */
  *namedBuffers(opts: { prefix?: string; recurse?: boolean } = {}): Generator<[string, Tensor]> {
    const seen = new Set<Tensor>();
    const mods = opts.recurse === false ? [[opts.prefix ?? '', this] as const] : this.namedModules(opts.prefix ?? '');
    for (const [mp, m] of mods)
      for (const [n, b] of m.#buffers)
        if (b && !seen.has(b)) {
          seen.add(b);
          yield [mp ? `${mp}.${n}` : n, b];
        }
  }
  buffers(opts: { recurse?: boolean } = {}): Tensor[] {
    return Array.from(this.namedBuffers(opts), ([, b]) => b);
  }

  /** 'layer1.0.conv1' -> that module; '' -> this. */
  getSubmodule(path: string): Module {
    if (path === '') return this;
    let m: Module = this;
    let at = '';
    for (const part of path.split('.')) {
      const next = m.#modules.get(part);
      if (!next) {
        const have = [...m.#modules.keys()].join(', ') || 'none';
        throw new ArgumentError(
          `no submodule '${part}' in '${at || '<root>'}' (looking up '${path}')`,
          `children there: ${have}`,
        );
      }
      at = at ? `${at}.${part}` : part;
      m = next;
    }
    return m;
  }

  /** Replaces (or adds) the module at a dotted path: setSubmodule('fc', new Linear(512, 4)). */
  setSubmodule(path: string, m: Module): void {
    const i = path.lastIndexOf('.');
    const parent = i < 0 ? this : this.getSubmodule(path.slice(0, i));
    parent.registerModule(path.slice(i + 1), m);
  }

  /** 'fc.weight' -> the parameter, or undefined. */
  getParameter(path: string): Parameter | undefined {
    const i = path.lastIndexOf('.');
    return (i < 0 ? this : this.getSubmodule(path.slice(0, i))).#params.get(path.slice(i + 1));
  }

  // ---- state dict ----

  /** Keys and order as PyTorch's state_dict(); detached tensors sharing storage unless keepVars. */
  stateDict(opts: { keepVars?: boolean; prefix?: string } = {}): StateDict {
    const out: StateDict = new Map();
    this.#collectState(out, opts.prefix ?? '', opts.keepVars ?? false);
    return out;
  }

  #collectState(out: StateDict, prefix: string, keepVars: boolean): void {
    this.#collectOwn(out, prefix, keepVars);
    for (const [n, m] of this.#modules) if (m) m.#collectState(out, `${prefix}${n}.`, keepVars);
  }

  #collectOwn(out: StateDict, prefix: string, keepVars: boolean): void {
    for (const [n, p] of this.#params) if (p) out.set(prefix + n, keepVars ? p : noGrad(() => p.detach()));
    for (const [n, b] of this.#buffers)
      if (b && !this.#nonPersistent.has(n)) out.set(prefix + n, keepVars ? b : b.detach());
  }

  /** A value for a key missing from a loaded state dict (BatchNorm: num_batches_tracked = 0). */
  protected defaultForMissing(_name: string): number | undefined {
    return undefined;
  }

  /**
   * Copies values in place (no autograd). Shape mismatches always throw, missing or unexpected keys
   * throw when strict (default); nothing is copied when it throws.
   */
  loadStateDict(sd: StateDictLike, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = new Map<string, Tensor>();
    const defaults = new Map<string, number>();
    for (const [prefix, m] of this.#allWithPrefix()) {
      const local = new Map<string, Tensor>();
      m.#collectOwn(local, prefix, true);
      for (const [k, v] of local) {
        own.set(k, v);
        const d = m.defaultForMissing(k.slice(prefix.length));
        if (d !== undefined) defaults.set(k, d);
      }
    }
    const missingKeys: string[] = [];
    const mismatches: SizeMismatch[] = [];
    for (const [k, t] of own) {
      const v = src.get(k);
      if (v === undefined) {
        if (!defaults.has(k)) missingKeys.push(k);
        continue;
      }
      const a = v.shape;
      const b = t.shape;
      if (a.length !== b.length || a.some((s, i) => s !== b[i])) mismatches.push({ key: k, checkpoint: a, model: b });
    }
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    if (mismatches.length || (strict && (missingKeys.length || unexpectedKeys.length)))
      throw new StateDictError(missingKeys, unexpectedKeys, mismatches);
    noGrad(() => {
      for (const [k, t] of own) {
        const v = src.get(k);
        if (v !== undefined) t.copy_(v);
        else if (defaults.has(k)) t.fill_(defaults.get(k)!);
      }
    });
    return { missingKeys, unexpectedKeys };
  }

  // every module with its key prefix, duplicates included (state dicts list tied modules twice)
  *#allWithPrefix(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [n, m] of this.#modules) if (m) yield* m.#allWithPrefix(`${prefix}${n}.`);
  }

  // ---- modes and bulk operations ----

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** fn on every submodule, children first, then this (torch's apply). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children()) c.apply(fn);
    fn(this);
    return this;
  }

  requiresGrad_(requiresGrad = true): this {
    for (const p of this.parameters()) p.requiresGrad = requiresGrad;
    return this;
  }

  /** Drops every parameter's gradient (set to none). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  numParameters(opts: { trainableOnly?: boolean } = {}): number {
    let n = 0;
    for (const p of this.parameters()) if (!opts.trainableOnly || p.requiresGrad) n += p.numel();
    return n;
  }

  /**
   * Moves / casts parameters and buffers (dtype casts floating tensors only, as PyTorch).
   * Device moves keep every tensor's identity; dtype casts replace the Parameter objects (fields
   * and tied weights follow), because a Tensor caches its dtype.
   */
  to(target: ToTarget): this {
    const spec = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    const replaced = new Map<Tensor, Tensor>();
    const move = (t: Tensor): Tensor => {
      const dtype = spec.dtype !== undefined && isFloating(t.dtype) && t.dtype !== spec.dtype ? spec.dtype : undefined;
      const device = spec.device !== undefined && spec.device !== t.device ? spec.device : undefined;
      if (dtype === undefined && device === undefined) return t;
      const done = replaced.get(t);
      if (done) return done;
      // as PyTorch's module.to: `t.data = t.data.to(...)`, so parameters keep their identity
      // (an optimizer built before still holds them) and their gradients follow
      noGrad(() => {
        const moved = t.to({ dtype, device });
        t.setData_(moved);
        moved.dispose();
        const g = t.grad;
        if (g) {
          const gm = g.to({ dtype, device });
          g.setData_(gm);
          gm.dispose();
        }
      });
      replaced.set(t, t);
      return t;
    };
    for (const m of this.modules()) {
      for (const [n, p] of m.#params) if (p) m.registerParameter(n, move(p));
      for (const [n, b] of m.#buffers) if (b) m.registerBuffer(n, move(b), { persistent: !m.#nonPersistent.has(n) });
    }
    return this;
  }

  /** Frees every parameter and buffer now (the module is unusable afterwards). */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
    for (const b of this.buffers()) b.dispose();
  }

  // ---- printing ----

  /** The part inside the parentheses of this module's one-line repr. */
  extraRepr(): string {
    return '';
  }

  toString(): string {
    const lines: string[] = [];
    for (const [n, m] of this.#modules) {
      const s = m ? m.toString().replace(/\n/g, '\n  ') : 'None';
      lines.push(`  (${n}): ${s}`);
    }
    const head = `${this.constructor.name}(${this.extraRepr()}`;
    return lines.length ? `${head}\n${lines.join('\n')}\n)` : `${head})`;
  }
}
