// Compression in recipes: a phase's `prune` section prunes while the phase fine-tunes (rounds
// spread over its epochs, each reaching a larger share of the target sparsity), the masks are baked
// into the weights when the run ends; the recipe's `quantize` section then makes an int8 model,
// measures it against the float one (size, accuracy, latency) and saves it beside model.safetensors.
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
  type QuantizeRecord,
} from '../report/index.ts';
import { noGrad, tidy } from '../tensor/index.ts';
import { type Callback, disposeBatch, type Trainer, toBatch } from '../train/index.ts';
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
  if (method === 'global') prune.globalUnstructured(targets, { amount: frac });
  else
    for (const [m, n] of targets) {
      if (method === 'l1') prune.l1Unstructured(m, n, frac);
      else if (method === 'random') prune.randomUnstructured(m, n, frac);
      else prune.lnStructured(m, n, frac, spec.n ?? 2, 0);
    }
}

function targetSparsity(targets: [Module, string][]): number {
  let zeros = 0;
  let numel = 0;
  noGrad(() =>
    tidy(() => {
      for (const [m] of targets) {
        const w = (m as Conv2d | Linear).weight;
        zeros += w.eq(0).sum().item();
        numel += w.numel();
      }
    }),
  );
  return numel ? zeros / numel : 0;
}

const writeRecord = (outDir: string, rec: PruneRecord | QuantizeRecord): void =>
  appendText(join(outDir, METRICS_FILE), `${formatRecord(rec as unknown as MetricsRecord)}\n`);

class PruneCallback implements Callback {
  readonly order = 5;
  readonly #targets = new Map<PrunePhase, [Module, string][]>();
  #reached = new Map<PrunePhase, number>();
  constructor(
    readonly phases: PrunePhase[],
    readonly outDir: string | undefined,
    model: Module,
  ) {
    for (const p of phases) this.#targets.set(p, pruneTargets(model, p.spec, `phases[${p.index}].prune`));
  }
  #at(epoch: number): { p: PrunePhase; round: number; starts: boolean } | undefined {
    const p = this.phases.find((q) => epoch >= q.start && epoch < q.start + q.epochs);
    if (!p) return undefined;
    const local = epoch - p.start;
    const startOf = (i: number) => Math.floor((i * p.epochs) / p.rounds);
    let round = 0;
    while (round + 1 < p.rounds && startOf(round + 1) <= local) round++;
    return { p, round: round + 1, starts: startOf(round) === local };
  }
  beforeEpoch(t: Trainer): void {
    const at = this.#at(t.epoch);
    if (!at?.starts) return;
    const from = this.#reached.get(at.p) ?? 0;
    const to = (at.p.spec.target * at.round) / at.p.rounds;
    pruneRound(this.#targets.get(at.p)!, at.p.spec, from, to);
    this.#reached.set(at.p, to);
    t.notes.push(`pruning round ${at.round}/${at.p.rounds}: target sparsity ${(to * 100).toFixed(1)}%`);
  }
  afterEpoch(t: Trainer): void {
    const at = this.#at(t.epoch);
    if (!at || !this.outDir) return;
    const targets = this.#targets.get(at.p)!;
    writeRecord(this.outDir, {
      type: 'prune',
      time: Date.now() / 1000,
      ...(t.phase ? { phase: t.phase } : {}),
      epoch: t.epoch,
      step: t.step,
      round: at.round,
      rounds: at.p.rounds,
      method: at.p.spec.method ?? 'l1',
      target: this.#reached.get(at.p) ?? 0,
      sparsity: targetSparsity(targets),
      ...(t.evalMetrics?.accuracy !== undefined ? { evalAccuracy: t.evalMetrics.accuracy } : {}),
      ...(t.evalMetrics ? { evalLoss: t.evalMetrics.loss } : {}),
    });
  }
  // the masks become the weights: the exported model and later phases see plain, sparse tensors
  afterFit(): void {
    for (const targets of this.#targets.values())
      for (const [m, n] of targets) if (prune.pruningOf(m).has(n)) prune.remove(m, n);
  }
}

/** model(input), or model(...input) for an array (the trainer's default forward). */
export const plainForward: Trainer['forwardFn'] = (model, input) =>
  Array.isArray(input) ? (model.call as (...a: unknown[]) => unknown)(...input) : model.call(input);

/** Median milliseconds of a forward pass over one batch (a warm-up pass first). */
export async function latency(
  model: Module,
  loader: DataLoader | undefined,
  forward: Trainer['forwardFn'],
  runs = 5,
): Promise<number | undefined> {
  if (!loader) return undefined;
  // eval mode, as the accuracy was measured: a forward in train mode would move BatchNorm's running
  // statistics (and so the weights exported after this) and run dropout
  const modes = [...model.modules()].map((m) => [m, m.training] as const);
  model.eval();
  try {
    for await (const raw of loader.iterate({ epoch: 0 })) {
      try {
        const batch = toBatch(raw);
        const times: number[] = [];
        noGrad(() => {
          for (let i = 0; i <= runs; i++) {
            const t0 = performance.now();
            tidy(() => void forward(model, batch.input, batch));
            if (i > 0) times.push(performance.now() - t0);
          }
        });
        times.sort((a, b) => a - b);
        return times[Math.floor(times.length / 2)];
      } finally {
        disposeBatch(raw);
      }
    }
    return undefined;
  } finally {
    for (const [m, t] of modes) m.training = t;
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

/** The first `n` training batches' inputs, for calibration. */
export async function calibrationInputs(
  loader: DataLoader,
  n: number,
): Promise<{ inputs: unknown[]; dispose(): void }> {
  const raws: unknown[] = [];
  const inputs: unknown[] = [];
  for await (const raw of loader.iterate({ epoch: 0 })) {
    raws.push(raw);
    inputs.push(toBatch(raw).input);
    if (inputs.length >= n) break;
  }
  return {
    inputs,
    dispose: () => {
      for (const r of raws) disposeBatch(r);
    },
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
    if (t.error) return;
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

/** The callbacks for a recipe's prune phases and quantize section (none when it has neither). */
export function compressCallbacks(
  r: Recipe,
  model: Module,
  o: { outDir: string; train: DataLoader; valid: DataLoader | undefined; main?: boolean },
): Callback[] {
  const phases = prunePhases(r);
  const out: Callback[] = [];
  // every rank prunes (the replicas must stay equal); the main rank alone writes and quantizes
  const main = o.main ?? true;
  if (phases.length) out.push(new PruneCallback(phases, main ? o.outDir : undefined, model));
  const q = r.quantize;
  if (q && q.mode !== 'qat')
    for (const k of ['freezeBnAfter', 'observersOffAfter'] as const)
      if (q[k] !== undefined) throw new RecipeError(`quantize.${k}`, `only for mode: qat (mode is '${q.mode}')`);
  if (q?.mode === 'qat') out.push(new QatScheduleCallback(q));
  if (r.quantize && main) {
    if (r.quantize.mode === 'static')
      try {
        quant.quantizable(model);
      } catch (e) {
        throw new RecipeError('quantize.mode', (e as Error).message, 'use mode: dynamic for models without convs');
      }
    out.push(new QuantizeCallback(r.quantize, o.outDir, o.train, o.valid, model));
  }
  return out;
}

/**
 * quantize.mode 'qat': the model's QAT form (fake-quantized, sharing the float model's parameters),
 * which the run trains in its place, as torchvision's quantization training script does.
 */
export function prepareRecipeQat(
  model: Module,
  spec: QuantizeSection,
  exported?: false | { weights?: 'last' | 'best' },
): Module {
  if (exported && exported.weights === 'best')
    throw new RecipeError(
      'train.export.weights',
      "quantization-aware training exports the last weights (best.pth holds the fake-quantized form's keys)",
      "remove train.export.weights or set it to 'last'",
    );
  try {
    return quant.prepareQat(model, { backend: spec.backend ?? 'fbgemm' });
  } catch (e) {
    throw new RecipeError('quantize.mode', (e as Error).message, 'use mode: dynamic for models without convs');
  }
}

// QAT's late-training switches, by epoch (re-applied on resume: the flags follow the epoch)
class QatScheduleCallback implements Callback {
  readonly order = 4;
  constructor(readonly spec: QuantizeSection) {}
  beforeEpoch(t: Trainer): void {
    const { freezeBnAfter, observersOffAfter } = this.spec;
    if (freezeBnAfter !== undefined && t.epoch >= freezeBnAfter) quant.freezeBnStats(t.model);
    if (observersOffAfter !== undefined && t.epoch >= observersOffAfter) quant.enableObserver(t.model, false);
  }
}
