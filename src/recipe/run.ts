// A recipe mapped onto the parts: data -> model (+ pretrained weights) -> src/finetune's run spec
// and PhaseRunner -> src/train's fit options. buildRun returns the pieces; runRecipe trains them
// into the run folder (recipe.yaml, metrics.jsonl, checkpoints, report.html, model + config.json).
import { basename, dirname, join, resolve } from 'node:path';
import type { DataLoader, DistributedSampler } from '../data/index.ts';
import { rankLoaders } from '../dist/sampler_glue.ts';
import { RecipeError } from '../errors.ts';
import { type LoraInfo, PhaseRunner, type RunSpec } from '../finetune/index.ts';
import type { LoadReport } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { manualSeed, setNumThreads } from '../tensor/index.ts';
import {
  assertUnlocked,
  type Callback,
  checkRunFolder,
  type FitOptions,
  type FitResult,
  fit,
  type ProgressOptions,
  resolveResume,
} from '../train/index.ts';
import {
  applyRecipeLora,
  causalLMFitOptions,
  causalLMOutputs,
  checkCausalLMRecipe,
  type HfWeights,
  hfCausalLM,
  hfDirOf,
  hfModelOptions,
  isCausalLM,
  withLoraFreeze,
} from './causal_lm.ts';
import { atPath } from './check.ts';
import { compressCallbacks } from './compress.ts';
import { qatTrainForm, withoutQatCache } from './compress_qat.ts';
import { prepareCompressResume } from './compress_resume.ts';
import { type BuiltData, buildData } from './data.ts';
import { recipeFeatureCache } from './feature_cache.ts';
import { type LoadedRecipe, recipeFrom, recipeToYaml } from './load.ts';
import { logCallbacks } from './log.ts';
import { buildModel, fetchPretrained, type RebuildInfo } from './model.ts';
import { checkResumeChanges, checkSameData, comparable, dataFingerprint } from './resume.ts';
import { type DistRun, fitRank, onMain, parallelLine, startDist, useSyncBatchNorm } from './run_dist.ts';
import { progressCallback, type RunProgress } from './run_progress.ts';
import { loadSummary, readRunRecord, recordedRecipe, runRecordCallback } from './run_record.ts';
import { checkAgainstModel, toRunSpec } from './run_spec.ts';
import type { Recipe } from './schema.ts';

export type { RunProgress } from './run_progress.ts';
export { checkAgainstModel, toRunSpec } from './run_spec.ts';

export interface RunPieces {
  loaded: LoadedRecipe;
  recipe: Recipe;
  name: string;
  model: Module;
  loadReport: LoadReport | undefined;
  data: BuiltData;
  classes: string[];
  /** the classifier's outputs (undefined for causal LMs) */
  numClasses: number | undefined;
  /** the LoRA adapters the recipe's lora section added */
  lora: LoraInfo | undefined;
  /** the weights came from a Hugging Face folder (model.pretrained) */
  hfWeights?: HfWeights;
  spec: RunSpec;
  runner: PhaseRunner;
  train: DataLoader;
  valid: DataLoader | undefined;
  /** everything fit() needs but resume and progress */
  fit: FitOptions;
  outDir: string;
  /** stops loader threads and frees the model */
  dispose(): Promise<void>;
  /** a data-parallel rank's training sampler (torch's DistributedSampler) */
  sampler?: DistributedSampler;
}

export interface BuildOptions {
  /** the run folder (default: recipe output.dir, else runs/<name>, from the working directory) */
  outDir?: string;
  cwd?: string;
  /** one rank of a data-parallel run: its share of the data (DistributedSampler), its device */
  dist?: { rank: number; worldSize: number; localRank: number };
}

/** The run folder a recipe trains into: outDir, else the recipe's output.dir, else runs/<name>. */
export const runFolder = (loaded: LoadedRecipe, o: BuildOptions = {}): string =>
  resolve(o.cwd ?? process.cwd(), o.outDir ?? loaded.recipe.output?.dir ?? join('runs', loaded.name));

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
  const lm = isCausalLM(r);
  atPath('task', () => checkCausalLMRecipe(r));
  const meta = models.getMeta(r.model.name);
  const channels = (r.model.options?.inChannels as number | undefined) ?? meta.inputSize?.[0];
  const data = buildData(r, { seed, meta, channels });
  try {
    const numClasses = lm ? undefined : classCount(r, data);
    const hfDir = lm ? hfDirOf(r) : undefined;
    const hf = hfDir ? hfCausalLM(r, hfDir) : undefined;
    const built = hf
      ? { model: hf.model, loadReport: undefined, keras: false }
      : buildModel(r.model, numClasses, 'weights');
    const model = built.model;
    const lora = r.lora ? applyRecipeLora(model, r.lora, r) : undefined;
    // quantization-aware training trains the model's quantizable form (the same parameters); its QAT phase swaps in fake-quant
    const trained = qatTrainForm(model, r);
    // under several processes each takes its own GPU: 'cuda' means cuda:LOCAL_RANK
    const device = o.dist && t.device === 'cuda' ? `cuda:${o.dist.localRank}` : (t.device ?? 'cpu');
    if (device !== 'cpu') model.to({ device });
    // train.distributed.syncBatchNorm: before the phases hook BatchNorms (fitRank gives them the group)
    if (o.dist) useSyncBatchNorm(r, trained);
    let train = data.loader('train');
    let valid = data.sets.val ? data.loader('val') : undefined;
    const shares = o.dist ? rankLoaders(train, valid, { ...o.dist, seed }) : undefined;
    if (shares) ({ train, valid } = shares);
    const accumulate = t.accumulate ?? 1;
    const plain = toRunSpec(r, Math.max(1, Math.ceil(train.length / accumulate)));
    const spec = lora ? withLoraFreeze(plain, lora) : plain;
    checkAgainstModel(model, spec, built.loadReport);
    const runner = atPath(
      'phases',
      () => new PhaseRunner(trained, spec, { meta: models.metaOf(model), loadReport: built.loadReport }),
    );
    const outDir = runFolder(loaded, o);
    const rebuild: RebuildInfo = { keras: built.keras };
    const clip = typeof t.clip === 'number' ? { norm: t.clip } : t.clip;
    const fitOptions: FitOptions = {
      model: trained,
      runner,
      train,
      valid,
      seed,
      device,
      amp: t.amp ?? false,
      ...(t.memoryFormat ? { memoryFormat: t.memoryFormat } : {}),
      accumulate,
      topK: t.topK,
      monitor: t.monitor,
      ...(clip ? { clip } : {}),
      ...(t.earlyStopping ? { earlyStopping: t.earlyStopping } : {}),
      ...(lm ? causalLMFitOptions(r, model) : {}),
      checkpoint: t.checkpoint === false ? false : (t.checkpoint ?? {}),
      logEvery: t.logEvery,
      report: t.report ?? true,
      export:
        t.export === false
          ? false
          : {
              weights: t.export?.weights ?? 'last',
              ...(trained !== model ? { model } : {}),
              architecture: r.model.name,
              ...(numClasses !== undefined ? { numClasses } : {}),
              modelOptions: {
                ...(numClasses !== undefined ? { numClasses } : {}),
                ...(hf ? hfModelOptions(r, model) : (r.model.options ?? {})),
              },
              ...(r.model.replace ? { head: r.model.replace } : {}),
              preprocessing: data.preprocessing,
              extra: { graft: { ...rebuild, ...(lora ? { lora: lora.config } : {}) }, recipe: loaded.name },
            },
      ...(lm ? { callbacks: [causalLMOutputs(outDir, data.tokenizer, lora)] } : { classNames: data.classes }),
      ...(built.loadReport ? { loadReport: built.loadReport } : {}),
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
      lora,
      ...(hf ? { hfWeights: hf.load } : {}),
      spec,
      runner,
      train,
      valid,
      fit: fitOptions,
      outDir,
      ...(shares ? { sampler: shares.sampler } : {}),
      async dispose() {
        runner.release();
        await Promise.all([data.close(), shares?.close()]);
        model.dispose();
      },
    };
  } catch (e) {
    void data.close();
    throw e;
  }
}

export interface RunOptions extends BuildOptions {
  onProgress?: (p: RunProgress) => void;
  /** progress bars / lines on stderr (default false here; the CLI turns them on) */
  progress?: boolean | ProgressOptions;
  /** continue from RUN_DIR's last checkpoint (or a checkpoint file); true: the run folder's own */
  resume?: string | boolean;
  /** SIGINT / SIGTERM / SIGHUP stop the run at the next step with a checkpoint (again: quit at once) */
  handleSignals?: boolean;
  /** replace the run already in the run folder (without it, or resume, such a folder is refused) */
  overwrite?: boolean;
  /** where the start-of-run lines go (the weights' load summary, what a resume changed); default: nowhere */
  log?: (line: string, level: 'info' | 'warn') => void;
  /** one rank of several (the torchrun variables set): how long it waits for the others (default 60 s) */
  distTimeoutMs?: number;
}

/**
 * Trains a recipe into its run folder and returns fit's result (and the pieces, disposed). Before
 * anything in the folder changes: a folder holding a run needs resume or overwrite; a resume is
 * checked against the recipe and data its checkpoint recorded (see resume.ts). recipe.yaml is
 * written (atomically) only once the run has started.
 */
export async function runRecipe(
  input: LoadedRecipe | Recipe,
  o: RunOptions = {},
): Promise<FitResult & { name: string }> {
  const loaded = asLoaded(input);
  // one rank of a data-parallel run: the group first, then rank 0 alone owns the run folder
  const dist = await startDist(loaded.recipe, {
    ...o,
    resumeFrom: o.resume === true ? runFolder(loaded, o) : o.resume || undefined,
  });
  try {
    return await runRecipeOn(loaded, o, dist);
  } finally {
    await dist?.pg.destroy();
  }
}

async function runRecipeOn(
  loaded: LoadedRecipe,
  o: RunOptions,
  dist: DistRun | undefined,
): Promise<FitResult & { name: string }> {
  const outDir = runFolder(loaded, o);
  const resumeFrom = o.resume === true ? outDir : o.resume || undefined;
  await onMain(dist, () => {
    assertUnlocked(outDir);
    checkRunFolder(outDir, { resume: resumeFrom !== undefined, overwrite: o.overwrite });
  });
  // weights named by source (torchvision:..., hf:...): rank 0 downloads them while the others wait
  let fetchFailure: unknown;
  if (!dist || dist.main)
    await fetchPretrained(loaded.recipe.model).catch((e: unknown) => (fetchFailure = e ?? 'failed'));
  await onMain(dist, () => {
    if (fetchFailure !== undefined) throw fetchFailure;
  });
  const recipeYaml = recipeToYaml(loaded);
  const checkpoint = resumeFrom ? resolveResume(resumeFrom) : undefined;
  const prior = checkpoint ? readRunRecord(checkpoint) : undefined;
  let changed: string[] = [];
  if (checkpoint && prior) {
    const home = basename(dirname(checkpoint)) === 'checkpoints' ? dirname(dirname(checkpoint)) : dirname(checkpoint);
    const before = recordedRecipe(prior.record, home);
    if (before) changed = checkResumeChanges(comparable(before), comparable(recipeYaml), prior, home);
  }
  const p = buildRun(loaded, { ...o, outDir, ...(dist ? { dist: dist.env } : {}) });
  let disposeCache = () => {};
  try {
    // a checkpoint taken while pruning or in QAT: the model gets its layout before it loads
    if (checkpoint) prepareCompressResume(p.recipe, p.fit.model, checkpoint);
    const data = dataFingerprint(p.data);
    if (checkpoint && prior) checkSameData(prior.record.data, data, checkpoint);
    const log = (!dist || dist.main ? o.log : undefined) ?? (() => {});
    if (dist) log(parallelLine(dist, p.recipe), 'info');
    if (checkpoint && prior) {
      log(`resuming ${checkpoint}: epoch ${prior.epoch + 1}, batch ${prior.batch}, step ${prior.step}`, 'info');
      if (changed.length) log(`changed on resume: ${changed.join(', ')}`, 'info');
    } else {
      const s = loadSummary(p.loadReport, p.hfWeights);
      for (const line of s.lines) log(line, 'info');
      if (s.warning) log(s.warning, 'warn');
    }
    const callbacks: Callback[] = [
      ...(!dist || dist.main
        ? [runRecordCallback({ outDir, recipeYaml, data, loadReport: p.loadReport, resumed: checkpoint !== undefined })]
        : []),
      ...(!dist || dist.main
        ? logCallbacks(p.recipe, { outDir, resumed: checkpoint !== undefined, logEvery: p.fit.logEvery })
        : []),
      ...(o.onProgress ? [progressCallback(o.onProgress)] : []),
      ...compressCallbacks(p.recipe, p.model, {
        outDir,
        train: p.train,
        valid: p.valid,
        main: !dist || dist.main,
        trained: p.fit.model,
        ...(p.fit.export ? { rebuild: p.fit.export.extra?.graft as Record<string, unknown> } : {}),
      }),
    ];
    // frozen-prefix feature caching (train.cacheFeatures): the loaders and forward go through the cache
    const cached = recipeFeatureCache(withoutQatCache(p.recipe), {
      model: p.fit.model,
      runner: p.runner,
      fit: p.fit,
      outDir,
      parallel: dist !== undefined,
      log: (line) => log(line, 'info'),
    });
    disposeCache = () => cached?.cache.dispose();
    const options: FitOptions = {
      ...p.fit,
      ...(cached ? cached.fit : {}),
      callbacks: [...(p.fit.callbacks ?? []), ...callbacks],
      progress: o.progress ?? false,
      ...(checkpoint ? { resume: checkpoint } : {}),
      ...(o.overwrite ? { overwrite: true } : {}),
      handleSignals: o.handleSignals ?? false,
    };
    const result = dist ? await fitRank(dist, p.recipe, options, p.sampler) : await fit(options);
    return { ...result, name: p.name };
  } finally {
    disposeCache();
    await p.dispose();
  }
}
