// A recipe mapped onto the parts: data -> model (+ pretrained weights) -> src/finetune's run spec
// and PhaseRunner -> src/train's fit options. buildRun returns the pieces; runRecipe trains them
// into the run folder (recipe.yaml, metrics.jsonl, checkpoints, report.html, model + config.json).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DataLoader } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import {
  type FreezeInput,
  type GroupsConfig,
  PhaseRunner,
  type PhaseSpec,
  paramGroups,
  type RunSpec,
  resolveFreeze,
} from '../finetune/index.ts';
import type { LoadReport } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { manualSeed, setNumThreads } from '../tensor/index.ts';
import { type Callback, type FitOptions, type FitResult, fit, type ProgressOptions } from '../train/index.ts';
import { atPath } from './check.ts';
import { type BuiltData, buildData } from './data.ts';
import { type LoadedRecipe, recipeFrom, recipeToYaml } from './load.ts';
import { buildModel, type RebuildInfo, toSelector } from './model.ts';
import type { Recipe } from './schema.ts';

type GroupsIn = NonNullable<Recipe['groups']>;

function toGroups(g: GroupsIn | undefined): GroupsConfig | undefined {
  if (g === undefined) return undefined;
  const obj = Array.isArray(g) ? { groups: g } : g;
  const { weight_decay, groups, noDecay, ...rest } = obj;
  return {
    ...rest,
    ...(weight_decay !== undefined ? { weightDecay: weight_decay } : {}),
    ...(noDecay !== undefined ? { noDecay: typeof noDecay === 'boolean' ? noDecay : toSelector(noDecay) } : {}),
    groups: (groups ?? []).map(({ match, weight_decay: wd, ...spec }) => ({
      ...spec,
      match: toSelector(match),
      ...(wd !== undefined ? { weightDecay: wd } : {}),
    })),
  };
}

function toFreeze(f: Recipe['phases'][number]['freeze']): FreezeInput | undefined {
  if (f === undefined || f === 'none') return f;
  return {
    ...f,
    ...(f.freeze !== undefined ? { freeze: toSelector(f.freeze) } : {}),
    ...(f.train !== undefined ? { train: toSelector(f.train) } : {}),
    ...(f.bnEval !== undefined ? { bnEval: toSelector(f.bnEval) } : {}),
  };
}

/** The recipe's groups / optimizer / scheduler / phases as src/finetune's RunSpec. */
export function toRunSpec(r: Recipe, stepsPerEpoch?: number): RunSpec {
  const phases: PhaseSpec[] = r.phases.map((p) => {
    const { freeze, ...rest } = p;
    const f = toFreeze(freeze);
    return { ...rest, ...(f !== undefined ? { freeze: f } : {}) } as PhaseSpec;
  });
  const groups = toGroups(r.groups);
  return {
    optimizer: { ...r.optimizer },
    ...(groups ? { groups } : {}),
    ...(r.scheduler ? { scheduler: { ...r.scheduler } as RunSpec['scheduler'] } : {}),
    phases,
    ...(stepsPerEpoch ? { stepsPerEpoch } : {}),
    ...(r.bn ? { bn: r.bn } : {}),
  };
}

/** Checks groups and each phase's freeze spec against the model, naming the recipe path on failure. */
export function checkAgainstModel(model: Module, spec: RunSpec, loadReport?: LoadReport): void {
  const ctx = { model, meta: models.metaOf(model), loadReport };
  atPath('groups', () => paramGroups(model, spec.groups ?? {}, { ...ctx, defaults: { lr: spec.optimizer.lr } }));
  spec.phases.forEach((p, i) => {
    if (p.freeze !== undefined && p.freeze !== 'none')
      atPath(`phases[${i}].freeze`, () => resolveFreeze(ctx, p.freeze === 'none' ? p.freeze : { ...p.freeze }));
  });
}

export interface RunPieces {
  loaded: LoadedRecipe;
  recipe: Recipe;
  name: string;
  model: Module;
  loadReport: LoadReport | undefined;
  data: BuiltData;
  classes: string[];
  numClasses: number;
  spec: RunSpec;
  runner: PhaseRunner;
  train: DataLoader;
  valid: DataLoader | undefined;
  /** everything fit() needs but resume and progress */
  fit: FitOptions;
  outDir: string;
  /** stops loader threads and frees the model */
  dispose(): Promise<void>;
}

export interface BuildOptions {
  /** the run folder (default: recipe output.dir, else runs/<name>, from the working directory) */
  outDir?: string;
  cwd?: string;
}

const asLoaded = (r: LoadedRecipe | Recipe): LoadedRecipe =>
  'recipe' in r && 'files' in r ? r : recipeFrom(r as Recipe);

/** The class count the model gets: model.numClasses, else the data's. */
function classCount(r: Recipe, data: BuiltData): number {
  const n = r.model.numClasses ?? data.classes.length;
  if (n < data.classes.length)
    throw new RecipeError(
      'model.numClasses',
      `${n} classes, but the data has ${data.classes.length} (${data.classes.slice(0, 5).join(', ')}${data.classes.length > 5 ? ', ...' : ''})`,
      "leave numClasses out to take the data's count",
    );
  return n;
}

/** The pieces of a run: data, model with its pretrained weights, phase runner, fit options. */
export function buildRun(input: LoadedRecipe | Recipe, o: BuildOptions = {}): RunPieces {
  const loaded = asLoaded(input);
  const r = loaded.recipe;
  const t = r.train ?? {};
  const seed = t.seed ?? 0;
  if (t.threads) setNumThreads(t.threads);
  manualSeed(seed);
  const meta = models.getMeta(r.model.name);
  const channels = (r.model.options?.inChannels as number | undefined) ?? meta.inputSize?.[0];
  const data = buildData(r, { seed, meta, channels });
  try {
    const numClasses = classCount(r, data);
    const built = buildModel(r.model, numClasses, 'weights');
    const model = built.model;
    const device = t.device ?? 'cpu';
    if (device !== 'cpu') model.to({ device });
    const train = data.loader('train');
    const valid = data.sets.val ? data.loader('val') : undefined;
    const accumulate = t.accumulate ?? 1;
    const spec = toRunSpec(r, Math.max(1, Math.ceil(train.length / accumulate)));
    checkAgainstModel(model, spec, built.loadReport);
    const runner = atPath(
      'phases',
      () => new PhaseRunner(model, spec, { meta: models.metaOf(model), loadReport: built.loadReport }),
    );
    const outDir = resolve(o.cwd ?? process.cwd(), o.outDir ?? r.output?.dir ?? join('runs', loaded.name));
    const rebuild: RebuildInfo = { keras: built.keras };
    const clip = typeof t.clip === 'number' ? { norm: t.clip } : t.clip;
    const fitOptions: FitOptions = {
      model,
      runner,
      train,
      valid,
      seed,
      device,
      amp: t.amp ?? false,
      accumulate,
      topK: t.topK,
      monitor: t.monitor,
      ...(clip ? { clip } : {}),
      ...(t.earlyStopping ? { earlyStopping: t.earlyStopping } : {}),
      checkpoint: t.checkpoint === false ? false : (t.checkpoint ?? {}),
      logEvery: t.logEvery,
      report: t.report ?? true,
      export:
        t.export === false
          ? false
          : {
              weights: t.export?.weights ?? 'last',
              architecture: r.model.name,
              numClasses,
              modelOptions: { numClasses, ...(r.model.options ?? {}) },
              ...(r.model.replace ? { head: r.model.replace } : {}),
              preprocessing: data.preprocessing,
              extra: { graft: rebuild, recipe: loaded.name },
            },
      classNames: data.classes,
      info: {
        recipe: loaded.name,
        ...(loaded.file ? { recipeFile: loaded.file } : {}),
        seed,
        device,
        amp: String(t.amp ?? false),
      },
      outDir,
    };
    return {
      loaded,
      recipe: r,
      name: loaded.name,
      model,
      loadReport: built.loadReport,
      data,
      classes: data.classes,
      numClasses,
      spec,
      runner,
      train,
      valid,
      fit: fitOptions,
      outDir,
      async dispose() {
        runner.release();
        await data.close();
        model.dispose();
      },
    };
  } catch (e) {
    void data.close();
    throw e;
  }
}

/** A moment of a run, for callers that draw their own progress. */
export interface RunProgress {
  kind: 'step' | 'epoch' | 'note';
  epoch: number;
  epochs: number;
  step: number;
  phase: string | undefined;
  /** step: this batch's loss */
  loss?: number;
  /** epoch: the epoch's metrics ('train.loss', 'eval.accuracy', ...) */
  metrics?: Record<string, number>;
  /** note: a phase start, an optimizer switch, ... */
  text?: string;
}

export interface RunOptions extends BuildOptions {
  onProgress?: (p: RunProgress) => void;
  /** progress bars / lines on stderr (default false here; the CLI turns them on) */
  progress?: boolean | ProgressOptions;
  /** continue from RUN_DIR's last checkpoint (or a checkpoint file); true: the run folder's own */
  resume?: string | boolean;
  /** SIGINT / SIGTERM stop the run at the next step with a checkpoint */
  handleSignals?: boolean;
}

function progressCallback(on: (p: RunProgress) => void): Callback {
  const at = (t: Parameters<NonNullable<Callback['afterBatch']>>[0]) => ({
    epoch: t.epoch,
    epochs: t.epochs,
    step: t.step,
    phase: t.phase,
  });
  // the trainer's notes: an epoch's (phase starts) before its first batch, then each batch's own
  const notes = (t: Parameters<NonNullable<Callback['afterBatch']>>[0]) => {
    for (const text of t.notes) on({ kind: 'note', ...at(t), text });
  };
  return {
    order: 20,
    beforeEpoch: notes,
    afterBatch(t) {
      notes(t);
      if (t.stepped) on({ kind: 'step', ...at(t), loss: t.lossValue });
    },
    afterEpoch(t) {
      on({ kind: 'epoch', ...at(t), metrics: { ...t.metrics } });
    },
  };
}

/** Trains a recipe into its run folder and returns fit's result (and the pieces, disposed). */
export async function runRecipe(
  input: LoadedRecipe | Recipe,
  o: RunOptions = {},
): Promise<FitResult & { name: string }> {
  const p = buildRun(input, o);
  try {
    mkdirSync(p.outDir, { recursive: true });
    writeFileSync(join(p.outDir, 'recipe.yaml'), recipeToYaml(p.loaded));
    const callbacks = o.onProgress ? [progressCallback(o.onProgress)] : [];
    const resume = o.resume === true ? p.outDir : o.resume;
    const result = await fit({
      ...p.fit,
      callbacks: [...(p.fit.callbacks ?? []), ...callbacks],
      progress: o.progress ?? false,
      ...(resume ? { resume } : {}),
      handleSignals: o.handleSignals ?? false,
    });
    return { ...result, name: p.name };
  } finally {
    await p.dispose();
  }
}
