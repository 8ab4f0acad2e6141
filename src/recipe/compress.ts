// Compression in recipes: a phase's `prune` section prunes while the phase fine-tunes (rounds
// spread over its epochs, each reaching a larger share of the target sparsity; the rounds done go
// into every checkpoint, so a run resumes anywhere in the schedule), the masks are baked into the
// weights when the run ends (and, with shrink, the dead channels removed: compress_shrink.ts); the
// recipe's `quantize` section then makes an int8 model, measures it against the float one (size,
// accuracy, latency) and saves it beside model.safetensors. QAT phases: compress_qat.ts.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DataLoader } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import * as models from '../models/index.ts';
import { Conv2d, Linear, type Module } from '../nn/index.ts';
import * as prune from '../prune/index.ts';
import * as quant from '../quant/index.ts';
import {
  appendText,
  formatRecord,
  METRICS_FILE,
  type MetricsRecord,
  type ModelMeasure,
  type PruneRecord,
  parseMetrics,
  type QuantizeRecord,
  writeFileAtomic,
} from '../report/index.ts';
import { noGrad, type Tensor } from '../tensor/index.ts';
import type { Callback, Trainer } from '../train/index.ts';
import { calibrationInputs, latency, targetSparsity } from './compress_measure.ts';
import { QatPhaseCallback, qatPlan, quantizeSection } from './compress_qat.ts';
import { ChannelShrink } from './compress_shrink.ts';
import { evaluateModel } from './evaluate.ts';
import type { Recipe } from './schema.ts';

type PruneSection = NonNullable<Recipe['phases'][number]['prune']>;
type QuantizeSection = NonNullable<Recipe['quantize']>;

interface PrunePhase {
  index: number;
  name: string | undefined;
  spec: PruneSection;
  /** first epoch of the phase (0-based) and its epoch count */
  start: number;
  epochs: number;
  rounds: number;
}

/** The recipe's prune phases with their epoch ranges; RecipeErrors for what cannot be scheduled. */
export function prunePhases(r: Recipe): PrunePhase[] {
  const out: PrunePhase[] = [];
  let start = 0;
  let byEpochs = true;
  r.phases.forEach((p, i) => {
    if (p.prune) {
      const at = `phases[${i}].prune`;
      if (!byEpochs || p.epochs === undefined)
        throw new RecipeError(
          at,
          'a pruning phase and the phases before it need epochs (not steps)',
          'give each phase epochs: N',
        );
      const rounds = p.prune.steps ?? p.epochs;
      if (rounds > p.epochs)
        throw new RecipeError(
          `${at}.steps`,
          `${rounds} pruning rounds do not fit in ${p.epochs} epochs`,
          'at most one round per epoch',
        );
      if (p.prune.shrink && p.prune.method !== 'ln-structured')
        throw new RecipeError(
          `${at}.shrink`,
          `only whole channels can be removed: method is '${p.prune.method ?? 'l1'}'`,
          'use method: ln-structured (whole output channels) with shrink',
        );
      out.push({ index: i, name: p.name, spec: p.prune, start, epochs: p.epochs, rounds });
    }
    if (p.epochs === undefined) byEpochs = false;
    else start += p.epochs;
  });
  if (out.length) {
    if (r.train?.export && r.train.export.weights === 'best')
      throw new RecipeError(
        'train.export.weights',
        "'best' is not supported with pruning phases",
        "export the 'last' weights (the pruned ones)",
      );
  }
  if (r.quantize && r.task === 'causal-lm')
    throw new RecipeError(
      'quantize',
      'the quantize section measures classification accuracy; causal-LM runs are not supported',
      "quantize the exported model with 'graft export --quantize int8'",
    );
  if (r.quantize && (r.train?.device ?? 'cpu') !== 'cpu')
    throw new RecipeError(
      'quantize',
      'int8 kernels run on the CPU',
      "train on the CPU or quantize later with 'graft eval --quantize'",
    );
  return out;
}

/** The [module, 'weight'] pairs a prune section covers: Conv2d / Linear weights, the classifier left out by default. */
export function pruneTargets(model: Module, spec: PruneSection, at = 'prune'): [Module, string][] {
  const names = new Set([...model.namedModules()].map(([n]) => n));
  for (const n of [...(spec.modules ?? []), ...(spec.exclude ?? [])])
    if (!names.has(n)) throw new RecipeError(`${at}.modules`, `no module '${n}' in the model`);
  const under = (n: string, roots: string[]) => roots.some((r) => n === r || n.startsWith(`${r}.`));
  const head = models.metaOf(model)?.classifier ?? [];
  const out: [Module, string][] = [];
  for (const [n, m] of model.namedModules()) {
    if (!(m instanceof Conv2d || m instanceof Linear)) continue;
    if (spec.modules ? !under(n, spec.modules) : under(n, head)) continue;
    if (under(n, spec.exclude ?? [])) continue;
    out.push([m, 'weight']);
  }
  if (!out.length) throw new RecipeError(at, 'no Conv2d or Linear weights to prune');
  return out;
}

// one pruning round: from sparsity `from` to `to` of the targets (a fraction of what is left, as torch's iterative pruning)
function pruneRound(targets: [Module, string][], spec: PruneSection, from: number, to: number): void {
  const frac = from >= 1 ? 0 : Math.min(1, Math.max(0, (to - from) / (1 - from)));
  const method = spec.method ?? 'l1';
  // masks are ranked on the weights as they are now (the pre-hook refreshes them only at a forward)
  for (const [m, n] of targets) prune.recompute(m, n);
  if (method === 'global') prune.globalUnstructured(targets, { amount: frac });
  else
    for (const [m, n] of targets) {
      if (method === 'l1') prune.l1Unstructured(m, n, frac);
      else if (method === 'random') prune.randomUnstructured(m, n, frac);
      else prune.lnStructured(m, n, frac, spec.n ?? 2, 0);
    }
}

const writeRecord = (outDir: string, rec: PruneRecord | QuantizeRecord): void =>
  appendText(join(outDir, METRICS_FILE), `${formatRecord(rec as unknown as MetricsRecord)}\n`);

/** The run stopped mid-epoch (a signal, requestStop) and its checkpoint is written to resume from. */
export const stoppedToResume = (t: Trainer): boolean =>
  !t.error && t.stopReason !== undefined && t.position.batch !== 0 && t.atStepBoundary;

class PruneCallback implements Callback {
  // before the logger (0), which writes the epoch's notes
  readonly order = -9;
  /** its rounds done and sparsity reached per prune phase go into every checkpoint */
  readonly name = 'prune';
  readonly #targets: [Module, string][][];
  #done: number[];
  #reached: number[];
  /** a stopped run's masks and weights, baked for the export, put back for its checkpoint */
  #stash: { m: Module; n: string; orig: Tensor; mask: Tensor }[] = [];
  /** runs after the export and before the checkpoint (order 60 < 99 < 100) */
  readonly restore: Callback = { order: 99, afterFit: () => this.#unbake() };
  /** per phase: the convs whose pruned channels are removed when the run ends (prune.shrink) */
  readonly #shrinks: (ChannelShrink | undefined)[];
  constructor(
    readonly phases: PrunePhase[],
    readonly outDir: string | undefined,
    readonly model: Module,
    readonly o: { valid?: DataLoader; rebuild?: Record<string, unknown> } = {},
  ) {
    this.#targets = phases.map((p) => pruneTargets(model, p.spec, `phases[${p.index}].prune`));
    this.#shrinks = phases.map((p, i) =>
      p.spec.shrink ? new ChannelShrink(model, this.#targets[i]!, `phases[${p.index}].prune.shrink`) : undefined,
    );
    this.#done = phases.map(() => 0);
    this.#reached = phases.map(() => 0);
  }
  /** every pruned [module, name]: the targets and the BatchNorms that follow shrinking convs */
  #pruned(): [Module, string][] {
    return [...this.#targets.flat(), ...this.#shrinks.flatMap((s) => s?.pruned() ?? [])].filter(([m, n]) =>
      prune.pruningOf(m).has(n),
    );
  }
  stateDict(): Record<string, unknown> {
    return { rounds: [...this.#done], reached: [...this.#reached] };
  }
  loadStateDict(sd: Record<string, unknown>): void {
    const rounds = (sd.rounds as number[] | undefined) ?? [];
    const reached = (sd.reached as number[] | undefined) ?? [];
    this.#done = this.phases.map((_, i) => Number(rounds[i] ?? 0));
    this.#reached = this.phases.map((_, i) => Number(reached[i] ?? 0));
  }
  // a resume redoes the epochs from its checkpoint on: their prune records go (before the logger reads the file)
  beforeFit(t: Trainer): void {
    const file = this.outDir && join(this.outDir, METRICS_FILE);
    if (!t.resumedFrom || !file || !existsSync(file)) return;
    const recs = parseMetrics(readFileSync(file, 'utf8'), file);
    const keep = recs.filter((r) => {
      const x = r as unknown as PruneRecord;
      return x.type !== 'prune' || x.epoch < t.position.epoch;
    });
    if (keep.length < recs.length) writeFileAtomic(file, keep.map((r) => `${formatRecord(r)}\n`).join(''));
  }
  #at(epoch: number): { i: number; round: number; starts: boolean } | undefined {
    const i = this.phases.findIndex((q) => epoch >= q.start && epoch < q.start + q.epochs);
    const p = this.phases[i];
    if (!p) return undefined;
    const local = epoch - p.start;
    const startOf = (k: number) => Math.floor((k * p.epochs) / p.rounds);
    let round = 0;
    while (round + 1 < p.rounds && startOf(round + 1) <= local) round++;
    return { i, round: round + 1, starts: startOf(round) === local };
  }
  beforeEpoch(t: Trainer): void {
    const at = this.#at(t.epoch);
    // a run resumed in the middle of a round's first epoch has pruned it already
    if (!at?.starts || this.#done[at.i]! >= at.round) return;
    const p = this.phases[at.i]!;
    const to = (p.spec.target * at.round) / p.rounds;
    pruneRound(this.#targets[at.i]!, p.spec, this.#reached[at.i]!, to);
    this.#shrinks[at.i]?.followBn();
    this.#reached[at.i] = to;
    this.#done[at.i] = at.round;
    t.notes.push(`pruning round ${at.round}/${p.rounds}: target sparsity ${(to * 100).toFixed(1)}%`);
  }
  afterEpoch(t: Trainer): void {
    const at = this.#at(t.epoch);
    if (!at || !this.outDir) return;
    const p = this.phases[at.i]!;
    writeRecord(this.outDir, {
      type: 'prune',
      time: Date.now() / 1000,
      ...(t.phase ? { phase: t.phase } : {}),
      epoch: t.epoch,
      step: t.step,
      round: at.round,
      rounds: p.rounds,
      method: p.spec.method ?? 'l1',
      target: this.#reached[at.i]!,
      sparsity: targetSparsity(this.#targets[at.i]!),
      ...(t.evalMetrics?.accuracy !== undefined ? { evalAccuracy: t.evalMetrics.accuracy } : {}),
      ...(t.evalMetrics ? { evalLoss: t.evalMetrics.loss } : {}),
    });
  }
  // the masks become the weights: the exported model and quantization see plain, sparse tensors.
  // A run stopped to resume keeps them in its checkpoint: baked for the export, then put back
  // A run that ended removes the channels a shrink phase pruned (after the masks are baked)
  async afterFit(t: Trainer): Promise<void> {
    const keep = stoppedToResume(t);
    for (const [m, n] of this.#pruned()) {
      if (keep) {
        const sd = new Map(m.stateDict());
        const copy = (k: string) => noGrad(() => sd.get(k)!.clone()).keep();
        this.#stash.push({ m, n, orig: copy(`${n}_orig`), mask: copy(`${n}_mask`) });
      }
      prune.remove(m, n);
    }
    if (keep || t.error) return;
    for (const s of this.#shrinks)
      await s?.apply(this.model, t, { valid: this.o.valid, outDir: this.outDir, rebuild: this.o.rebuild });
  }
  #unbake(): void {
    for (const { m, n, orig, mask } of this.#stash) {
      prune.customFromMask(m, n, mask);
      noGrad(() => m.getParameter(`${n}_orig`)!.copy_(orig));
      orig.dispose();
      mask.dispose();
    }
    this.#stash = [];
  }
}

/** Size, accuracy, loss and latency of a model on the run's validation data. */
async function measure(model: Module, t: Trainer, valid: DataLoader | undefined): Promise<ModelMeasure> {
  const bytes = quant.stateDictBytes(model).total;
  const m = valid ? await evaluateModel(model, valid, { topK: 1 }) : undefined;
  const ms = await latency(model, valid, t.forwardFn);
  return {
    bytes,
    ...(m?.accuracy !== undefined ? { accuracy: m.accuracy } : {}),
    ...(m ? { loss: m.loss } : {}),
    ...(ms !== undefined ? { msPerBatch: ms } : {}),
  };
}

class QuantizeCallback implements Callback {
  readonly order = 45;
  constructor(
    readonly spec: QuantizeSection,
    readonly outDir: string,
    readonly train: DataLoader,
    readonly valid: DataLoader | undefined,
    readonly floatModel: Module,
  ) {}
  async afterFit(t: Trainer): Promise<void> {
    // a run stopped to resume is quantized when it ends
    if (t.error || stoppedToResume(t)) return;
    const model = t.model;
    if (this.spec.mode === 'qat') return this.#afterQat(t);
    const float = await measure(model, t, this.valid);
    const file = this.spec.save === false ? undefined : join(this.outDir, 'model.int8.safetensors');
    let int8: ModelMeasure;
    let calibrationBatches: number | undefined;
    if (this.spec.mode === 'dynamic') {
      const r = quant.quantizeDynamic(model, { perChannel: this.spec.perChannel ?? false });
      try {
        int8 = await measure(model, t, this.valid);
        if (file) quant.saveQuantized(file, model);
      } finally {
        r.restore();
      }
    } else {
      const calib = await calibrationInputs(this.train, this.spec.calibrationBatches ?? 8);
      let q: Module;
      try {
        const prepared = quant.prepare(model, {
          backend: this.spec.backend ?? 'fbgemm',
          activation: this.spec.observer ?? 'histogram',
        });
        calibrationBatches = quant.calibrate(prepared, calib.inputs as never[]);
        q = quant.convert(prepared);
      } finally {
        calib.dispose();
      }
      int8 = await measure(q, t, this.valid);
      if (file) quant.saveQuantized(file, q);
      quant.releasePacked(q);
    }
    this.#write(float, int8, file, calibrationBatches);
  }
  // QAT: the trained model is the fake-quantized form; 'float' is the float model sharing its weights
  async #afterQat(t: Trainer): Promise<void> {
    // a run that ended (early stopping) before its QAT phase has nothing fake-quantized to convert
    if (!quant.isQatPrepared(t.model)) return;
    const file = this.spec.save === false ? undefined : join(this.outDir, 'model.int8.safetensors');
    const float = await measure(this.floatModel, t, this.valid);
    const q = quant.convert(t.model);
    const int8 = await measure(q, t, this.valid);
    if (file) quant.saveQuantized(file, q);
    quant.releasePacked(q);
    this.#write(float, int8, file);
  }
  #write(float: ModelMeasure, int8: ModelMeasure, file: string | undefined, calibrationBatches?: number): void {
    writeRecord(this.outDir, {
      type: 'quantize',
      time: Date.now() / 1000,
      mode: this.spec.mode,
      ...(this.spec.mode !== 'dynamic' ? { backend: this.spec.backend ?? 'fbgemm' } : {}),
      engine: quant.engines().current,
      ...(calibrationBatches ? { calibrationBatches } : {}),
      float,
      int8,
      ...(file ? { file: 'model.int8.safetensors' } : {}),
    });
  }
}

/** The callbacks for a recipe's prune phases, QAT phase and quantize section (none when it has neither). */
export function compressCallbacks(
  r: Recipe,
  model: Module,
  o: {
    outDir: string;
    train: DataLoader;
    valid: DataLoader | undefined;
    main?: boolean;
    /** the module the run trains (QAT: the model's quantizable form) */
    trained?: Module;
    /** config.json's graft section, which learns the widths of a shrunk model */
    rebuild?: Record<string, unknown>;
  },
): Callback[] {
  const phases = prunePhases(r);
  const plan = qatPlan(r);
  const out: Callback[] = [];
  // every rank prunes (the replicas must stay equal); the main rank alone writes and quantizes
  const main = o.main ?? true;
  if (phases.length) {
    const p = new PruneCallback(phases, main ? o.outDir : undefined, model, {
      ...(o.valid ? { valid: o.valid } : {}),
      ...(o.rebuild ? { rebuild: o.rebuild } : {}),
    });
    out.push(p, p.restore);
  }
  const q = quantizeSection(r, plan);
  if (q && q.mode !== 'qat')
    for (const k of ['freezeBnAfter', 'observersOffAfter'] as const)
      if (q[k] !== undefined) throw new RecipeError(`quantize.${k}`, `only for mode: qat (mode is '${q.mode}')`);
  if (plan) out.push(new QatPhaseCallback(plan, o.trained ?? model));
  if (q && main) {
    if (q.mode === 'static')
      try {
        quant.quantizable(model);
      } catch (e) {
        throw new RecipeError('quantize.mode', (e as Error).message, 'use mode: dynamic for models without convs');
      }
    out.push(new QuantizeCallback(q, o.outDir, o.train, o.valid, model));
  }
  return out;
}
