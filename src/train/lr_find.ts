// The LR finder (fastai's lr_find, Lightning's Tuner.lr_find): a short mock training run whose
// learning rate grows exponentially from startLr to endLr over numIt optimizer steps, recording
// the smoothed loss, stopped when it diverges; then everything the run touched is put back (the
// weights and BatchNorm buffers bit for bit, requires_grad and train/eval modes, the freeze state,
// the optimizer's state) and a learning rate is read off the curve (lr_find_math.ts).
//
// With phases it sweeps one phase as the run would start it: a fresh PhaseRunner is walked to the
// phase (its freeze, optimizer and the groups' lrs at that point, schedulers stepped on the way),
// and every group's lr keeps its ratio to the largest one (backbone at 0.1 x head stays 0.1 x):
// the sweep moves that one multiplier, and the suggestion is the largest group's lr.
// The run is the real Trainer (same batches, seeds, AMP, accumulation, loss), with a runner that
// sets the lrs and a callback that records; no validation, nothing written.
import { ArgumentError } from '../errors.ts';
import {
  checkSweep,
  diverged,
  enterPhase,
  freezerOf,
  type LrSuggestion,
  type LrSuggestionMethod,
  PhaseRunner,
  type RunSpec,
  SmoothLoss,
  suggestLrs,
  sweepLr,
} from '../finetune/index.ts';
import type { LoadReport } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import type { Optimizer } from '../optim/index.ts';
import { getRngState, noGrad, setRngState, Tensor } from '../tensor/index.ts';
import { type Callback, CancelBatchException } from './events.ts';
import type { TrainerOptions } from './options.ts';
import type { PhaseRunnerLike } from './runner.ts';
import { Trainer } from './trainer.ts';

export interface LrFindOptions
  extends Pick<
    TrainerOptions,
    'model' | 'train' | 'loss' | 'forward' | 'callbacks' | 'seed' | 'device' | 'amp' | 'accumulate' | 'topK' | 'task'
  > {
  /** a phase runner: its run spec is swept at `phase` (the runner itself is not touched) */
  runner?: PhaseRunner;
  /** or the run spec itself */
  spec?: RunSpec;
  /** or a plain optimizer (fastai's way): its groups are swept, its state restored afterwards */
  optimizer?: Optimizer;
  /** the phase to sweep (default 0), with runner or spec */
  phase?: number;
  /** default 1e-7 */
  startLr?: number;
  /** default 10 */
  endLr?: number;
  /** optimizer steps of the sweep (default 100; at least 6) */
  numIt?: number;
  /** stop when the smoothed loss passes divThreshold x its best (default true) */
  stopDiv?: boolean;
  /** default 4 */
  divThreshold?: number;
  /** the loss smoothing (default 0.98) */
  beta?: number;
  /** suggestion methods; the first is `suggested` (default 'valley') */
  suggest?: LrSuggestionMethod | LrSuggestionMethod[];
  /** every group at the same lr, as fastai's lr_find (default false: the ratios the run gives them) */
  sameLr?: boolean;
  /** the pretrained load report, for freeze selectors that name new or loaded parameters */
  loadReport?: LoadReport;
  /** called after every recorded step */
  onStep?: (s: LrFindStep & { index: number; numIt: number }) => void;
}

export interface LrFindStep {
  /** the sweep's lr at this step (the reference group's) */
  lr: number;
  /** this step's loss (the mean over an accumulation window) */
  loss: number;
  /** the smoothed, bias-corrected loss */
  smoothed: number;
}

export interface LrFindGroup {
  name: string;
  /** lr of the group = ratio x the sweep's lr */
  ratio: number;
}

export interface LrFindResult {
  /** the phase swept (with runner or spec) */
  phase?: { index: number; name?: string; trainable: number; frozen: number; optimizer: string };
  groups: LrFindGroup[];
  /** the group whose lr the sweep's lr is */
  reference: string;
  /** that group's lr as the run has it at the phase's start (the sweep's lr stands in for it) */
  runLr: number;
  startLr: number;
  endLr: number;
  numIt: number;
  beta: number;
  divThreshold: number;
  steps: LrFindStep[];
  stopReason: 'done' | 'diverged' | 'data ended';
  suggestions: (LrSuggestion & { groupLrs: Record<string, number> })[];
  /** the first method's suggestion (undefined when the curve was too short to read) */
  suggested: number | undefined;
  /** why a method gave no suggestion */
  problems: string[];
}

type Saved = {
  values: [Tensor, Tensor][];
  requiresGrad: [Tensor, boolean][];
  modes: [Module, boolean][];
  freeze: ReturnType<typeof freezerOf>['state'];
  optimizer?: ReturnType<Optimizer['stateDict']>;
};

const cloneValue = (v: unknown): unknown =>
  v instanceof Tensor
    ? v.clone()
    : Array.isArray(v)
      ? v.map(cloneValue)
      : v !== null && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, cloneValue(x)]))
        : v;
const freeValue = (v: unknown): void => {
  if (v instanceof Tensor) v.dispose();
  else if (Array.isArray(v)) v.forEach(freeValue);
  else if (v !== null && typeof v === 'object') Object.values(v).forEach(freeValue);
};

/** Everything the sweep changes: weights and buffers (copies), flags, modes, freeze, optimizer state. */
function save(model: Module, optimizer: Optimizer | undefined): Saved {
  const tensors = [...model.parameters(), ...model.buffers()];
  const sd = optimizer?.stateDict();
  return noGrad(() => ({
    values: tensors.map((t) => [t, t.clone()] as [Tensor, Tensor]),
    requiresGrad: model.parameters().map((p) => [p, p.requiresGrad] as [Tensor, boolean]),
    modes: [...model.modules()].map((m) => [m, m.training] as [Module, boolean]),
    freeze: freezerOf(model).state,
    ...(sd
      ? { optimizer: { ...sd, state: new Map([...sd.state].map(([k, st]) => [k, cloneValue(st) as never])) } }
      : {}),
  }));
}

/** Puts it all back, in place: tensors the caller holds (an optimizer's params) stay the same objects. */
function restore(model: Module, s: Saved, optimizer: Optimizer | undefined): void {
  freezerOf(model).apply(s.freeze);
  noGrad(() => {
    for (const [t, v] of s.values) {
      t.copy_(v);
      v.dispose();
    }
  });
  for (const [p, rg] of s.requiresGrad) {
    p.requiresGrad = rg;
    p.grad = undefined;
  }
  for (const [m, training] of s.modes) m.training = training;
  if (optimizer && s.optimizer) {
    optimizer.dispose();
    optimizer.loadStateDict(s.optimizer);
    for (const st of s.optimizer.state.values()) freeValue(st);
  }
}

/** Sets the groups' lrs for each step and ends the run after numIt steps: what the trainer drives. */
class SweepRunner implements PhaseRunnerLike {
  finished = false;
  constructor(
    readonly optimizer: Optimizer,
    readonly ratios: number[],
    readonly lrAt: (i: number) => number,
    readonly numIt: number,
    readonly phase: string | undefined,
  ) {
    this.#set(0);
  }
  #set(i: number): void {
    const lr = this.lrAt(i);
    this.optimizer.paramGroups.forEach((g, k) => {
      g.lr = this.ratios[k]! * lr;
    });
  }
  onEpochStart(): unknown {
    return [];
  }
  onStepEnd(i: number): unknown {
    if (i + 1 >= this.numIt) this.finished = true;
    else this.#set(i + 1);
    return [];
  }
  onEpochEnd(): void {}
  stateDict(): Record<string, unknown> {
    return {};
  }
  loadStateDict(): void {
    throw new ArgumentError('an lr finder sweep cannot be resumed');
  }
}

/** Each group's share of the sweep's lr: its lr over the largest (or all 1 with sameLr; pinned groups 0). */
function ratiosOf(
  opt: Optimizer,
  pinned: number[],
  sameLr: boolean,
): { ratios: number[]; reference: number; runLr: number } {
  const lrs = opt.paramGroups.map((g, i) => (pinned.includes(i) ? 0 : g.lr));
  let reference = 0;
  lrs.forEach((v, i) => {
    if (v > lrs[reference]!) reference = i;
  });
  const top = lrs[reference]!;
  const ratios = lrs.map((v, i) => (pinned.includes(i) ? 0 : sameLr || top === 0 ? 1 : v / top));
  if (sameLr || top === 0) reference = ratios.findIndex((v) => v > 0);
  reference = Math.max(0, reference);
  return { ratios, reference, runLr: opt.paramGroups[reference]!.lr };
}

/**
 * Runs the LR range test and returns the curve and the suggestions. The model (weights, buffers,
 * requires_grad, modes, freeze), a given optimizer and libtorch's CPU random generator (dropout
 * and shuffles draw from it during the sweep) are as before when it returns or throws.
 */
export async function lrFind(o: LrFindOptions): Promise<LrFindResult> {
  const { model } = o;
  const given = [o.runner, o.spec, o.optimizer].filter((x) => x !== undefined).length;
  if (given !== 1) throw new ArgumentError('lrFind needs one of runner, spec or optimizer');
  if (o.phase !== undefined && o.optimizer) throw new ArgumentError('lrFind: phase goes with runner or spec');
  const startLr = o.startLr ?? 1e-7;
  const endLr = o.endLr ?? 10;
  const numIt = checkSweep(startLr, endLr, o.numIt ?? 100);
  const beta = o.beta ?? 0.98;
  const threshold = o.divThreshold ?? 4;
  if (!(threshold > 1)) throw new ArgumentError(`lrFind: divThreshold must be > 1, got ${threshold}`);
  const methods = o.suggest === undefined ? ['valley' as const] : Array.isArray(o.suggest) ? o.suggest : [o.suggest];
  const smooth = new SmoothLoss(beta);
  const saved = save(model, o.optimizer);
  const rng = getRngState();
  let temp: PhaseRunner | undefined;
  const steps: LrFindStep[] = [];
  let stopReason: LrFindResult['stopReason'] = 'data ended';
  let phaseInfo: LrFindResult['phase'];
  let names: string[];
  let ratios: number[];
  let reference: number;
  let runLr: number;
  try {
    let opt: Optimizer;
    let phaseName: string | undefined;
    if (o.optimizer) {
      opt = o.optimizer;
      names = opt.paramGroups.map((g, i) => (typeof g.name === 'string' ? g.name : `group ${i}`));
      ({ ratios, reference, runLr } = ratiosOf(opt, [], o.sameLr ?? false));
    } else {
      const spec = o.spec ?? o.runner!.spec;
      temp = new PhaseRunner(model, spec, { meta: models.metaOf(model), loadReport: o.loadReport });
      const len = lengthOf(o.train);
      const spe = len === undefined ? undefined : Math.max(1, Math.ceil(len / (o.accumulate ?? 1)));
      const n = o.phase ?? 0;
      enterPhase(temp, n, spe);
      opt = temp.optimizer;
      names = temp.groups.groups.map((g) => g.name);
      ({ ratios, reference, runLr } = ratiosOf(opt, temp.pinned, o.sameLr ?? false));
      const st = temp.freezeState;
      phaseName = temp.phase.name ?? `phase ${n}`;
      phaseInfo = {
        index: n,
        ...(temp.phase.name ? { name: temp.phase.name } : {}),
        trainable: model.parameters().filter((p) => p.requiresGrad).length,
        frozen: st.frozen.length,
        optimizer: (opt as { type?: string }).type ?? opt.constructor.name,
      };
    }
    const lrAt = (i: number) => sweepLr(i, numIt, startLr, endLr);
    const sweep = new SweepRunner(opt, ratios, lrAt, numIt, phaseName);
    let best = Number.POSITIVE_INFINITY;
    let window: number[] = [];
    const record = (t: { step: number; requestStop(r: string): void }, loss: number) => {
      const s = smooth.add(loss);
      const index = steps.length;
      steps.push({ lr: lrAt(index), loss, smoothed: s });
      o.onStep?.({ ...steps[index]!, index, numIt });
      const div = diverged(s, best, threshold);
      if (s < best) best = s;
      if (div && ((o.stopDiv ?? true) || !Number.isFinite(s))) {
        stopReason = 'diverged';
        t.requestStop('lr finder: the loss diverged');
      } else if (index + 1 >= numIt) stopReason = 'done';
    };
    const recorder: Callback = {
      name: 'lr_finder',
      // before the NaN stop (-100): a loss that blows up ends the sweep, it is no training error
      order: -200,
      afterLoss(t) {
        if (Number.isFinite(t.lossValue)) {
          window.push(t.lossValue);
          return;
        }
        window = [];
        record(t, t.lossValue);
        stopReason = 'diverged';
        t.requestStop('lr finder: the loss is not finite');
        throw new CancelBatchException('lr finder: the loss is not finite');
      },
      afterBatch(t) {
        if (!t.stepped || window.length === 0) return;
        const loss = window.reduce((a, b) => a + b, 0) / window.length;
        window = [];
        record(t, loss);
      },
    };
    const trainer = new Trainer({
      model,
      runner: sweep,
      train: o.train,
      callbacks: [recorder, ...(o.callbacks ?? [])],
      ...pick(o, ['loss', 'forward', 'seed', 'device', 'amp', 'accumulate', 'topK', 'task']),
    });
    // as fastai: enough epochs for numIt steps (the runner ends the run at numIt)
    const per = trainer.batchesPerEpoch;
    const epochs = per ? Math.floor(numIt / Math.ceil(per / (o.accumulate ?? 1))) + 1 : 1;
    await trainer.fit(epochs);
    if (stopReason === 'data ended' && steps.length >= numIt) stopReason = 'done';
  } finally {
    if (temp) {
      temp.release();
      temp.optimizer.dispose();
    }
    restore(model, saved, o.optimizer);
    setRngState(rng);
    rng.dispose();
  }
  const { suggestions, problems } = suggestLrs(
    steps.map((s) => s.lr),
    steps.map((s) => s.smoothed),
    numIt,
    methods,
  );
  const groups = names.map((name, i) => ({ name, ratio: ratios[i]! }));
  return {
    ...(phaseInfo ? { phase: phaseInfo } : {}),
    groups,
    reference: names[reference]!,
    runLr,
    startLr,
    endLr,
    numIt,
    beta,
    divThreshold: threshold,
    steps,
    stopReason,
    suggestions: suggestions.map((s) => ({
      ...s,
      groupLrs: Object.fromEntries(groups.map((g) => [g.name, g.ratio * s.lr])),
    })),
    suggested: suggestions[0]?.lr,
    problems,
  };
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function lengthOf(train: unknown): number | undefined {
  if (Array.isArray(train)) return train.length;
  const n = (train as { length?: unknown } | null)?.length;
  return typeof n === 'number' ? n : undefined;
}
