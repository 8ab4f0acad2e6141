// `graft plan RECIPE`: what a run will do, before any compute. The data is listed (not decoded) for
// class names and steps per epoch; the model is built and its pretrained load previewed from
// checkpoint headers; src/finetune's plan() gives the per-phase module table and every group's lr
// at every epoch. What would stop the run before it trains is listed in `problems` (data that
// cannot be read, a failing load, a head whose shapes do not fit, a CUDA device that is not there).
import { CheckpointError, GraftError } from '../errors.ts';
import { type CachePlanPhase, type PlanJSON, plan } from '../finetune/index.ts';
import { type LoadReport, readHfDir } from '../io/index.ts';
import * as models from '../models/index.ts';
import type { Module } from '../nn/index.ts';
import { cuda, noGrad, Tensor, tidy, zeros } from '../tensor/index.ts';
import { applyRecipeLora, hfDirOf, isCausalLM, withLoraFreeze } from './causal_lm.ts';
import { atPath } from './check.ts';
import { compressPlanLines } from './compress_plan.ts';
import { type QatPlan, qatPlan } from './compress_qat.ts';
import { type BuiltData, buildData } from './data.ts';
import { planCacheSection } from './feature_cache.ts';
import type { LoadedRecipe } from './load.ts';
import { buildModel } from './model.ts';
import { checkMonitors } from './monitors.ts';
import { checkAgainstModel, toRunSpec } from './run.ts';

export interface RecipePlanOptions {
  /** steps per epoch when the data cannot be read here (default: from the data) */
  stepsPerEpoch?: number;
  /** ASCII chart width */
  width?: number;
  /** list every parameter per phase */
  params?: boolean;
  /** processes of a data-parallel run (graft train --nproc): each takes 1/N of every epoch */
  processes?: number;
}

export interface RecipePlan {
  /** false when the run would fail before it trains: data that cannot be read, a pretrained load that would fail */
  ok: boolean;
  /** why the checkpoint could not be read, when it could not */
  loadError?: string;
  /** what would make the run fail (empty when ok) */
  problems: string[];
  text: string;
  json: {
    recipe: { name: string; file: string | null };
    data: {
      kind: string;
      classes: string[] | null;
      sizes: Record<string, number>;
      stepsPerEpoch: number | null;
      note?: string;
    };
    load: Record<string, unknown> | null;
    plan: PlanJSON;
    /** per phase: the frozen prefix the feature cache computes once, its size, or why it stays off */
    featureCache?: CachePlanPhase[];
    /** where quantization-aware training starts (phase, epoch, backend, switches) */
    qat?: QatPlan;
    /** what would make the run fail before it trains (empty when ok) */
    problems: string[];
  };
}

/**
 * One forward pass of a zero image through the model as built (eval mode, no gradients): a replaced
 * head whose sizes do not fit, or fewer outputs than the data has classes, fails here instead of at
 * the first batch. The only compute plan does: one input, no weights read.
 */
function forwardProblem(model: Module, shape: number[], classes: number | undefined): string | undefined {
  const was = model.training;
  model.eval();
  try {
    const out = tidy(() => {
      const y: unknown = noGrad(() => model.call(zeros(shape) as never));
      return y instanceof Tensor ? [...y.shape] : undefined;
    });
    if (out && classes !== undefined && (out.length !== 2 || out[1]! < classes))
      return `the model's output for one input is [${out.join(', ')}], but the data has ${classes} classes (expected [1, ${classes}])`;
    return undefined;
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return `a forward pass of one [${shape.join(', ')}] input fails: ${msg}`;
  } finally {
    model.train(was);
  }
}

/** The plan of a recipe: data summary, load report preview, phases, lrs, problems. Reads no tensor data. */
export function planRecipe(loaded: LoadedRecipe, o: RecipePlanOptions = {}): RecipePlan {
  const r = loaded.recipe;
  const t = r.train ?? {};
  const seed = t.seed ?? 0;
  const processes = o.processes ?? 1;
  const meta = models.getMeta(r.model.name);
  const channels = (r.model.options?.inChannels as number | undefined) ?? meta.inputSize?.[0];
  let classes: string[] | null = null;
  const sizes: Record<string, number> = {};
  let spe = o.stepsPerEpoch;
  let dataNote: string | undefined;
  const problems: string[] = [];
  let valid: boolean | undefined;
  let sets: BuiltData['sets'] | undefined;
  try {
    const data = buildData(r, { seed, meta, channels });
    classes = data.classes;
    for (const [k, s] of Object.entries(data.sets)) if (s) sizes[k] = s.length;
    valid = data.sets.val !== undefined;
    sets = data.sets;
    const batch = r.data.batchSize ?? 32;
    // each process gets ceil(n / N) samples (torch's DistributedSampler pads to equal shares)
    const perProcess = Math.ceil(sizes.train! / processes);
    const batches = r.data.dropLast ? Math.floor(perProcess / batch) : Math.ceil(perProcess / batch);
    spe ??= Math.max(1, Math.ceil(batches / (t.accumulate ?? 1)));
    void data.close();
  } catch (e) {
    if (!(e instanceof GraftError)) throw e;
    dataNote = `data not read: ${e.message}`;
    problems.push(`the data cannot be read: ${e.message}`);
  }
  // now that the splits are known: a monitor on eval.* needs a validation split
  if (valid !== undefined) checkMonitors(r, { valid });
  const numClasses = isCausalLM(r) ? undefined : (r.model.numClasses ?? classes?.length);
  if (classes && numClasses !== undefined && numClasses < classes.length)
    problems.push(
      `model.numClasses: ${numClasses} classes, but the data has ${classes.length}; leave numClasses out to take the data's count`,
    );
  const device = t.device ?? 'cpu';
  if (device.startsWith('cuda')) {
    const want = Number(device.split(':')[1] ?? 0);
    const have = cuda.deviceCount();
    if (want >= have)
      problems.push(
        `train.device: '${device}', but ${have ? `this machine has ${have} CUDA device${have === 1 ? '' : 's'}` : 'libtorch here has no CUDA device'} (graft info says what it found)`,
      );
  }
  let built: ReturnType<typeof buildModel>;
  let loadError: string | undefined;
  const hf = isCausalLM(r) ? hfDirOf(r) : undefined;
  try {
    // a Hugging Face folder: the architecture from its config.json (no weights read)
    const m = hf ? { ...r.model, pretrained: undefined, options: { config: readHfDir(hf).config } } : r.model;
    built = buildModel(m, numClasses, 'preview');
  } catch (e) {
    // an unreadable checkpoint (a template's placeholder path): plan the rest, and say so
    if (!(e instanceof CheckpointError)) throw e;
    loadError = e.message;
    built = buildModel({ ...r.model, pretrained: undefined }, numClasses, 'preview');
  }
  const lora = r.lora ? applyRecipeLora(built.model, r.lora, r) : undefined;
  try {
    const spec = lora ? withLoraFreeze(toRunSpec(r, spe), lora) : toRunSpec(r, spe);
    const report: LoadReport | undefined = built.loadReport;
    checkAgainstModel(built.model, spec, report);
    const p = atPath('phases', () =>
      plan(built.model, spec, {
        loadReport: report,
        meta: models.metaOf(built.model),
        width: o.width,
        params: o.params,
      }),
    );
    if (loadError) problems.push(`the pretrained load would fail: ${loadError}`);
    else if (report && !report.ok) problems.push('the pretrained load would fail (see the load report)');
    const size = r.data.imageSize ?? meta.inputSize?.[1];
    if (r.data.kind !== 'text' && r.data.kind !== 'causal-lm' && channels !== undefined && size !== undefined) {
      const problem = forwardProblem(built.model, [1, channels, size, size], classes?.length);
      if (problem) problems.push(problem);
    }
    const lines: string[] = [];
    lines.push(`recipe: ${loaded.name}${loaded.file ? ` (${loaded.file})` : ''}`);
    const sizeText = Object.entries(sizes)
      .map(([k, n]) => `${n.toLocaleString('en-US')} ${k}`)
      .join(' / ');
    lines.push(
      `data: ${r.data.kind}` +
        (classes && !isCausalLM(r) ? `, ${classes.length} classes` : '') +
        (sizeText ? `, ${sizeText}` : '') +
        (spe
          ? `, ${spe} steps per epoch (batch ${r.data.batchSize ?? 32}${t.accumulate ? ` x ${t.accumulate}` : ''})`
          : ''),
    );
    if (processes > 1) {
      const perStep = (r.data.batchSize ?? 32) * (t.accumulate ?? 1);
      lines.push(
        `data parallel: ${processes} processes x batch ${perStep} per process = effective batch ${processes * perStep} per step`,
      );
    }
    if (dataNote) lines.push(`  ${dataNote}`);
    lines.push(
      `model: ${r.model.name}${numClasses !== undefined ? ` (numClasses ${numClasses})` : ''}` +
        (r.model.replace ? `, replaced: ${Object.keys(r.model.replace).join(', ')}` : ''),
    );
    if (loadError) lines.push('', `pretrained weights: cannot preview the load: ${loadError}`);
    else if (report) {
      const named = built.pretrained?.ref ? ` ${built.pretrained.ref} (${built.pretrained.source})` : '';
      lines.push('', `pretrained weights${named} (preview from names and shapes; loaded keys not shown)`);
      lines.push(
        ...report
          .table({ loaded: false })
          .split('\n')
          .map((l) => (l ? `  ${l}` : l)),
      );
    } else if (hf)
      lines.push(`pretrained: the Hugging Face folder ${hf} (sizes from its config.json; weights not read)`);
    else if (built.pretrained) lines.push(`pretrained: ${built.pretrained.kind} weights`);
    else lines.push('pretrained: none (the model starts from its initialisation)');
    lines.push('', p.text);
    const qat = qatPlan(r);
    const compress = compressPlanLines(r, qat);
    if (compress.length) lines.push('', ...compress);
    const imageInput =
      r.data.kind !== 'text' && channels !== undefined && size !== undefined ? [1, channels, size, size] : undefined;
    const cache = planCacheSection(r, built.model, p.json.phases, sets ? { sets } : undefined, imageInput);
    if (cache) lines.push('', ...cache.lines);
    return {
      ok: problems.length === 0,
      ...(loadError ? { loadError } : {}),
      problems,
      text: lines.join('\n'),
      json: {
        recipe: { name: loaded.name, file: loaded.file ?? null },
        data: {
          kind: r.data.kind,
          classes,
          sizes,
          stepsPerEpoch: spe ?? null,
          ...(processes > 1
            ? {
                processes,
                batchPerProcess: r.data.batchSize ?? 32,
                effectiveBatch: processes * (r.data.batchSize ?? 32) * (t.accumulate ?? 1),
              }
            : {}),
          ...(dataNote ? { note: dataNote } : {}),
        },
        load: report ? report.toJSON() : loadError ? { error: loadError } : null,
        plan: p.json,
        ...(cache ? { featureCache: cache.json } : {}),
        ...(qat ? { qat } : {}),
        problems,
      },
    };
  } finally {
    built.model.dispose();
  }
}
