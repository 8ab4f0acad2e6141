// Frozen-prefix feature caching: when the first stages of a model cannot change during a phase
// (frozen, BatchNorm held in eval mode, no dropout, inputs without random augmentation), their
// output for each sample is computed once, in the first epoch, and later epochs train the suffix
// (the head) on the stored rows without loading, decoding or running the prefix again.
//
// It plugs into the trainer as a data source plus a forward function:
//   const cache = new FeatureCache(model, { dir: 'runs/x/cache' });
//   fit({ model, runner, train: cache.source(trainLoader, 'train'), valid: cache.source(valLoader, 'val'),
//         forward: cache.forward() })
// Before each epoch the source checks the cut, the prefix's weights (a checksum) and the data; any
// change refills the cache from the loader. A filling epoch runs exactly the uncached ops (prefix,
// then suffix on its output); later epochs gather rows by dataset index in the loader's order.
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import type { Module, Parameter } from '../nn/index.ts';
import type { DType, Tensor } from '../tensor/index.ts';
import { Tensor as TensorClass } from '../tensor/index.ts';
import { type Cut, findCut, fmtBytes, liveView, prefixFingerprint, randomTransforms } from './feature_cache_cut.ts';
import { featureStages, runStages, type Stage } from './feature_cache_stages.ts';
import { FeatureStore, removeIfEmpty, type StoreKind, storeBytes } from './feature_cache_store.ts';
import { freezerOf } from './freeze.ts';

/** auto: on when safe (why not is printed); memory / disk: where rows go; off: never. */
export type CacheMode = 'auto' | 'memory' | 'disk' | 'off';
export const CACHE_MODES: readonly CacheMode[] = ['auto', 'memory', 'disk', 'off'];
export type CacheSplit = 'train' | 'val';

/** Mode (per phase with a function), memory budget, storage dtype, disk folder, log. */
export interface FeatureCacheOptions {
  /** a mode, or a function read before each epoch (a phase's own setting) */
  mode?: CacheMode | (() => CacheMode);
  /** auto keeps rows in memory up to this many bytes, on disk beyond (default 1 GiB) */
  budgetBytes?: number;
  /** storage dtype: 'bfloat16' halves the size but rounds the features (no longer exact) */
  dtype?: 'float32' | 'bfloat16';
  /** folder for disk stores (a run folder's cache/); without it auto never goes to disk */
  dir?: string;
  /** where state changes and the reason the cache is off go */
  log?: (line: string) => void;
}

/** What the loader must offer: src/data's DataLoader (batches of dataset indices, resumable iterate). */
interface IndexedLoader {
  dataset: { length: number; transforms?: readonly { type: string; p?: number }[] };
  batches(epoch: number): number[][];
  iterate(o: { epoch: number; startBatch?: number }): AsyncIterable<unknown>;
  readonly length: number;
  readonly skipped?: number;
}

const isIndexed = (d: unknown): d is IndexedLoader => {
  const l = d as Partial<IndexedLoader> | null;
  return typeof l?.iterate === 'function' && typeof l.batches === 'function' && typeof l.dataset?.length === 'number';
};

type ForwardFn = (model: Module, input: any, batch: any) => unknown;

interface Plan {
  stages: Stage[];
  cut: number;
  stop: string | undefined;
  key: string;
  /** the prefix's parameters and BatchNorm modules: checked before every batch (a phase may end mid-epoch) */
  params: Parameter[];
  bns: Module[];
}

export interface CacheStatus {
  state: 'off' | 'filling' | 'cached';
  /** why it is off */
  reason?: string;
  /** the cached prefix, as stage names */
  prefix?: string[];
  /** why the prefix ends where it does (the first stage that is not cached) */
  stop?: string;
  kind?: StoreKind;
  bytes?: number;
  rows?: number;
  /** passes that (re)computed the prefix, and epochs served from the cache */
  fills: number;
  served: number;
}

interface SplitState {
  data: unknown;
  loader: IndexedLoader | undefined;
  plan?: Plan;
  store?: FeatureStore;
  /** a full pass filled every sample the loader gave */
  complete: boolean;
  /** indices the loader dropped (unreadable samples) */
  bad: Set<number>;
  status: CacheStatus;
  said?: string;
  /** a plan whose store could not be made (over the budget, no folder) */
  refused?: { key: string; reason: string };
}

/** Why a dataset's samples may differ between epochs (random or unknown transforms), or undefined. */
export function dataProblem(
  dataset: { transforms?: readonly { type: string; p?: number }[] },
  split: CacheSplit,
  mode: CacheMode,
): string | undefined {
  const tf = dataset.transforms;
  // a TensorDataset's rows are fixed tensors: the same every epoch
  const fixed = typeof (dataset as { tensors?: unknown }).tensors === 'object';
  if (tf === undefined && !fixed && mode === 'auto')
    return "the dataset lists no transforms, so graft cannot tell whether its samples repeat (set the mode to 'memory' or 'disk' to cache anyway)";
  const random = randomTransforms(tf ?? []);
  return random.length ? `the ${split} transforms are random (${random.join(', ')})` : undefined;
}

const datasetIds = new WeakMap<object, number>();
let nextDataset = 1;

/**
 * Computes a frozen, deterministic model prefix once per sample and trains the rest from the stored
 * rows: hand the trainer source(loader, split) and forward(); status(split) says what it does.
 */
export class FeatureCache {
  readonly model: Module;
  readonly budgetBytes: number;
  readonly dtype: 'float32' | 'bfloat16' | undefined;
  readonly dir: string | undefined;
  #mode: () => CacheMode;
  #log: (line: string) => void;
  #splits = new Map<CacheSplit, SplitState>();
  /** input tensors the sources handed out: rows to serve the suffix, or a batch whose prefix output to store */
  #marks = new WeakMap<Tensor, { split: SplitState; plan: Plan; indices?: number[] }>();

  constructor(model: Module, o: FeatureCacheOptions = {}) {
    this.model = model;
    const m = o.mode ?? 'auto';
    if (typeof m === 'string' && !CACHE_MODES.includes(m))
      throw new ArgumentError(`cache mode must be one of ${CACHE_MODES.join(', ')}, got '${m}'`);
    this.#mode = typeof m === 'function' ? m : () => m;
    this.budgetBytes = o.budgetBytes ?? 2 ** 30;
    this.dtype = o.dtype;
    if (o.dtype !== undefined && o.dtype !== 'float32' && o.dtype !== 'bfloat16')
      throw new ArgumentError(`cache dtype must be 'float32' or 'bfloat16', got '${o.dtype}'`);
    this.dir = o.dir;
    this.#log = o.log ?? (() => {});
  }

  /** The state of a split's cache (for progress lines, plans and tests). */
  status(split: CacheSplit): CacheStatus {
    return { ...(this.#splits.get(split)?.status ?? { state: 'off', reason: 'no data', fills: 0, served: 0 }) };
  }

  /**
   * A batch source over `data` for the trainer (train) or its validation (val). Data that is not a
   * graft DataLoader passes through unchanged (its samples have no index to key rows by).
   */
  source(
    data: unknown,
    split: CacheSplit,
  ): {
    batches(epoch: number, start: number): AsyncIterable<unknown>;
    readonly length?: number;
    readonly skipped?: number;
  } {
    const st: SplitState = {
      data,
      loader: isIndexed(data) ? data : undefined,
      complete: false,
      bad: new Set(),
      status: { state: 'off', fills: 0, served: 0 },
    };
    this.#splits.set(split, st);
    const d = data as { length?: number; skipped?: number };
    return {
      batches: (epoch, start) => this.#batches(st, split, epoch, start),
      get length() {
        return d.length;
      },
      get skipped() {
        return d.skipped;
      },
    };
  }

  /** The trainer's forward: the suffix on cached rows, prefix + store + suffix while filling, else `base`. */
  forward(base?: ForwardFn): ForwardFn {
    const fallback: ForwardFn = base ?? ((model, input) => model.call(input));
    if (base) this.#custom = true;
    return (model, input, batch) => {
      const mark = input instanceof TensorClass ? this.#marks.get(input) : undefined;
      if (!mark) return fallback(model, input, batch);
      if (model !== this.model)
        throw new ArgumentError(
          'feature cache: a batch of cached features reached another model than the cache was made for',
          'give FeatureCache the model the trainer trains',
        );
      const { stages, cut } = mark.plan;
      if (!mark.indices) return runStages(stages, cut, stages.length, input);
      this.#marks.delete(input);
      const feats = runStages(stages, 0, cut, input);
      const store = this.#storeFor(mark.split, feats);
      if (!store) return runStages(stages, cut, stages.length, feats);
      store.put(mark.indices, feats, (batch as { target?: Tensor } | undefined)?.target);
      // bf16 storage: the filling epoch trains on the rounded rows too, as every later epoch will
      const rows = store.storedDtype === store.featureDtype ? feats : store.read(feats.to(store.storedDtype!));
      return runStages(stages, cut, stages.length, rows);
    };
  }
  #custom = false;

  /** Frees every store (a disk store's file is removed). */
  dispose(): void {
    const made = [...this.#splits.values()].map((st) => st.store?.madeDir);
    for (const st of this.#splits.values()) {
      st.store?.dispose();
      st.store = undefined;
      st.complete = false;
    }
    // the folder the first disk store made goes once every store's file is gone
    for (const d of made) removeIfEmpty(d);
  }

  #say(st: SplitState, split: CacheSplit, line: string): void {
    if (st.said === line) return;
    st.said = line;
    this.#log(`feature cache (${split}): ${line}`);
  }

  /** Why this split cannot be cached this epoch, or the plan that caches it. */
  #decide(st: SplitState, split: CacheSplit, mode: CacheMode): Plan | string {
    const loader = st.loader;
    if (!loader) return 'the data is not a graft DataLoader (its samples have no index to key the cache by)';
    if (this.#custom) return 'the trainer has a custom forward function';
    if (this.model.hasHooks) return 'the model has forward hooks';
    const stages = featureStages(this.model);
    if (!stages)
      return `graft does not know where ${this.model.constructor.name}'s forward splits (give the model a featureStages() method)`;
    const training = split === 'train';
    const cut: Cut = findCut(this.model, stages, liveView(this.model, training, freezerOf(this.model).state.bnEval));
    if (cut.cut === 0) return `no frozen prefix to cache (${cut.stop})`;
    const tf = loader.dataset.transforms;
    const problem = dataProblem(loader.dataset, split, mode);
    if (problem) return problem;
    const ds = loader.dataset as object;
    let id = datasetIds.get(ds);
    if (id === undefined) {
      id = nextDataset++;
      datasetIds.set(ds, id);
    }
    const prefix = stages.slice(0, cut.cut);
    const params: Parameter[] = [];
    const bns: Module[] = [];
    for (const s of prefix)
      for (const p of s.paths) {
        const m = this.model.getSubmodule(p);
        params.push(...m.parameters());
        if (training) for (const sub of m.modules()) if (/^BatchNorm/.test(sub.constructor.name)) bns.push(sub);
      }
    const key = [
      cut.cut,
      id,
      loader.dataset.length,
      JSON.stringify(tf ?? null),
      prefixFingerprint(this.model, stages, cut.cut),
    ].join('|');
    return { stages, cut: cut.cut, stop: cut.stop, key, params, bns };
  }

  // cheap per-batch check: a phase sized in steps may unfreeze the prefix mid-epoch
  #stillValid(plan: Plan): boolean {
    return plan.params.every((p) => !p.requiresGrad) && plan.bns.every((m) => !m.training);
  }

  #storeFor(st: SplitState, feats: Tensor): FeatureStore | undefined {
    if (st.store) return st.store;
    const n = st.loader!.dataset.length;
    const dtype: DType = this.dtype ?? feats.dtype;
    const bytes = storeBytes(n, feats.shape.slice(1), dtype);
    const mode = this.#mode();
    let kind: StoreKind | undefined = mode === 'memory' ? 'memory' : mode === 'disk' ? 'disk' : undefined;
    if (!kind) kind = bytes <= this.budgetBytes ? 'memory' : this.dir ? 'disk' : undefined;
    if (kind === 'disk' && !this.dir) kind = undefined;
    const split = [...this.#splits].find(([, s]) => s === st)![0];
    if (!kind) {
      const reason = `${fmtBytes(bytes)} of features is over the memory budget (${fmtBytes(this.budgetBytes)}) and there is no folder for a disk cache`;
      st.status = { ...st.status, state: 'off', reason };
      st.refused = { key: st.plan!.key, reason };
      st.plan = undefined;
      this.#say(st, split, `off: ${st.status.reason}`);
      return undefined;
    }
    st.store = new FeatureStore(n, {
      kind,
      ...(kind === 'disk' ? { file: join(this.dir!, `features-${split}.bin`) } : {}),
      ...(this.dtype ? { dtype: this.dtype } : {}),
    });
    return st.store;
  }

  async *#batches(st: SplitState, split: CacheSplit, epoch: number, start: number): AsyncGenerator<unknown> {
    const mode = this.#mode();
    const plan = mode === 'off' ? 'off' : this.#decide(st, split, mode);
    if (typeof plan === 'string') {
      st.plan = undefined;
      st.status = { ...st.status, state: 'off', reason: plan };
      // auto stays quiet while nothing is frozen: there is no prefix anyone expects to be cached
      const frozen = mode !== 'auto' || this.model.parameters().some((p) => !p.requiresGrad);
      if (mode !== 'off' && frozen) this.#say(st, split, `off: ${plan}`);
      yield* this.#passthrough(st.data, epoch, start);
      return;
    }
    if (st.refused?.key === plan.key) {
      st.status = { ...st.status, state: 'off', reason: st.refused.reason };
      yield* this.#passthrough(st.data, epoch, start);
      return;
    }
    if (st.plan?.key !== plan.key) {
      // first use, or something upstream changed: the old rows mean nothing now
      if (st.plan) this.#say(st, split, 'the prefix, its weights or the data changed: refilling');
      st.store?.dispose();
      st.store = undefined;
      st.complete = false;
      st.bad.clear();
    }
    st.plan = plan;
    const prefix = plan.stages.slice(0, plan.cut).map((s) => s.name);
    if (st.complete && st.store) {
      st.status = { ...st.status, state: 'cached', prefix, stop: plan.stop, served: st.status.served + 1 };
      yield* this.#serve(st, plan, epoch, start);
    } else {
      st.status = { ...st.status, state: 'filling', prefix, stop: plan.stop, fills: st.status.fills + 1 };
      yield* this.#fill(st, split, plan, epoch, start);
    }
  }

  async *#passthrough(data: unknown, epoch: number, start: number): AsyncGenerator<unknown> {
    if (isIndexed(data)) yield* data.iterate({ epoch, startBatch: start });
    else if (typeof (data as { batches?: unknown }).batches === 'function')
      yield* (data as { batches(e: number, s: number): AsyncIterable<unknown> }).batches(epoch, start);
    else throw new ArgumentError('feature cache: the data must be a DataLoader or a batch source');
  }

  async *#serve(st: SplitState, plan: Plan, epoch: number, start: number): AsyncGenerator<unknown> {
    const all = st.loader!.batches(epoch);
    const store = st.store!;
    for (let k = start; k < all.length; k++) {
      const indices = all[k]!.filter((i) => !st.bad.has(i));
      // unfrozen mid-epoch, or a sample the filling pass never saw: the loader takes over from here
      const valid = this.#stillValid(plan);
      if (!valid || indices.some((i) => !store.has(i))) {
        st.complete = false;
        yield* this.#fill(st, undefined, plan, epoch, k, valid);
        return;
      }
      if (!indices.length) continue;
      const { input, target } = store.gather(indices);
      this.#marks.set(input, { split: st, plan });
      yield target ? { input, target } : { input };
    }
  }

  /** Loads batches from the loader, marking them for the forward to store; `resumes`: a served epoch's rest. */
  async *#fill(
    st: SplitState,
    split: CacheSplit | undefined,
    plan: Plan,
    epoch: number,
    start: number,
    resumes = false,
  ): AsyncGenerator<unknown> {
    const loader = st.loader!;
    const all = loader.batches(epoch);
    const given = new Set<number>();
    let whole = start === 0 || resumes;
    for await (const raw of loader.iterate({ epoch, startBatch: start })) {
      const b = raw as { x?: unknown; indices?: number[]; index?: number };
      if (b.x instanceof TensorClass && Array.isArray(b.indices) && this.#stillValid(plan) && st.plan === plan) {
        this.#marks.set(b.x, { split: st, plan, indices: b.indices });
        for (const i of b.indices) given.add(i);
        if (typeof b.index === 'number') for (const i of all[b.index] ?? []) if (!b.indices.includes(i)) st.bad.add(i);
      } else whole = false;
      yield raw;
    }
    const store = st.store;
    // complete when every sample the loader gave reached the store (a cancelled batch never ran the forward)
    if (!whole || !store || st.plan !== plan || ![...given].every((i) => store.has(i))) return;
    st.complete = true;
    if (resumes) return;
    for (const i of all.flat()) if (!given.has(i)) st.bad.add(i);
    st.status = { ...st.status, kind: store.kind, bytes: store.bytes, rows: store.filled };
    if (split)
      this.#say(
        st,
        split,
        `on: ${store.filled.toLocaleString('en-US')} rows of [${store.shape}] ${store.storedDtype} (${fmtBytes(store.bytes)} ${store.kind === 'disk' ? `on disk, ${store.file}` : 'in memory'}) after ${plan.stages[plan.cut - 1]!.name}${store.storedDtype !== store.featureDtype ? '; bfloat16 rows: results differ slightly from an uncached run' : ''}`,
      );
  }
}
