// `graft predict RUN_DIR FILES...`: top-k classes with their names for new inputs. The model is
// rebuilt from RUN_DIR/config.json + model.safetensors; images go through the evaluation pipeline
// config.json recorded, texts through the recorded tokenizer.

import { applyTransforms, DataError, Rng, readImage, T, TextTokenizer, type Transform } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import { foldConvBn, type Module } from '../nn/index.ts';
import { F, fromArray, Tensor, tidy, topk } from '../tensor/index.ts';
import { forEachOutput, loadModel, logitsOf, type ModelConfig } from '../train/index.ts';
import { rebuildFromConfig } from './model.ts';

export interface Prediction {
  /** the file (or text) predicted */
  input: string;
  /** empty when the input could not be read (see error) */
  top: { index: number; label: string; prob: number }[];
  /** why the input was skipped (skipUnreadable): the image could not be read or decoded */
  error?: string;
}

function topOf(logits: Tensor, k: number, names: readonly string[]): Prediction['top'][] {
  return tidy(() => {
    const probs = F.softmax(logits.float(), 1);
    const kk = Math.min(k, probs.size(1));
    const [v, i] = topk(probs, kk, 1);
    const vals = v.toArray();
    const idx = i.toArray();
    return Array.from({ length: probs.size(0) }, (_, r) =>
      Array.from({ length: kk }, (_, j) => {
        const index = idx[r * kk + j]!;
        return { index, label: names[index] ?? String(index), prob: vals[r * kk + j]! };
      }),
    );
  });
}

/** The evaluation pipeline of an exported image model, sized to its input when the pipeline is not. */
export function imagePipeline(config: ModelConfig): Transform[] {
  const pre = config.preprocessing ?? {};
  const ts = [...((pre.transforms as Transform[] | undefined) ?? [])];
  if (!ts.length && pre.inputSize) ts.push(T.resize([pre.inputSize[1], pre.inputSize[2]]));
  if (!ts.some((t) => t.type === 'normalize') && pre.mean && pre.std) ts.push(T.normalize(pre.mean, pre.std));
  return ts;
}

export interface PredictOptions {
  topK?: number;
  /** inputs per forward pass (default 16); images of different sizes go in separate batches */
  batchSize?: number;
  /** images with more pixels are refused before decoding (default: the data layer's MAX_IMAGE_PIXELS; null: no limit) */
  maxImagePixels?: number | null;
  /** an image that cannot be read gets a prediction with `error` and the others go on (default: it throws) */
  skipUnreadable?: boolean;
  /**
   * fold each BatchNorm into the convolution before it first (eval-mode maths, float rounding
   * apart the same predictions, fewer ops per image); image models only
   */
  foldBatchNorm?: boolean;
}

/** Top-k predictions for image files (or, for text models, lines of text). */
export async function predict(
  runDir: string,
  inputs: readonly string[],
  o: PredictOptions = {},
): Promise<Prediction[]> {
  const { model, config } = loadModel(runDir, { build: rebuildFromConfig });
  const names = config.classNames ?? [];
  const k = o.topK ?? 5;
  try {
    const pre = config.preprocessing ?? {};
    const batchSize = o.batchSize ?? 16;
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RecipeError('predict', `batchSize must be an integer >= 1, got ${batchSize}`);
    const failed = new Map<number, string>();
    const batches =
      pre.kind === 'text'
        ? textBatches(config, inputs, batchSize)
        : imageBatches(config, inputs, batchSize, o.maxImagePixels, o.skipUnreadable ? failed : undefined);
    const done = await predictBatches(model, o.foldBatchNorm ? foldingFirst(model, batches) : batches, (logits) =>
      topOf(logits, k, names),
    );
    // in input order, the skipped ones where they were
    const out: Prediction[] = [];
    let next = 0;
    inputs.forEach((input, i) => {
      const error = failed.get(i);
      out.push(error === undefined ? done[next++]! : { input, top: [], error });
    });
    return out;
  } finally {
    model.dispose();
  }
}

/** A batch for the model with the inputs (files or texts) it holds, in order. */
interface InputBatch {
  input: Tensor | Record<string, Tensor>;
  inputs: string[];
}

/** The batches, the model's conv + BatchNorm pairs folded on the first one (it traces the forward). */
async function* foldingFirst(model: Module, batches: AsyncIterable<InputBatch>): AsyncGenerator<InputBatch> {
  let first = true;
  for await (const b of batches) {
    if (first && b.input instanceof Tensor) {
      model.eval();
      foldConvBn(model, b.input);
    }
    first = false;
    yield b;
  }
}

/** Runs the batches through the shared evaluation loop (eval mode, no gradients): one prediction per input. */
async function predictBatches(
  model: Module,
  batches: AsyncIterable<InputBatch>,
  top: (logits: Tensor) => Prediction['top'][],
): Promise<Prediction[]> {
  const out: Prediction[] = [];
  const pending: string[][] = [];
  const source = {
    async *batches() {
      for await (const b of batches) {
        pending.push(b.inputs);
        yield { input: b.input };
      }
    },
  };
  await forEachOutput(model, source, {}, ({ output }) => {
    const logits = logitsOf(output);
    if (!logits) throw new RecipeError('model', 'predict needs a model that returns class logits');
    const inputs = pending.shift()!;
    top(logits).forEach((t, i) => {
      out.push({ input: inputs[i]!, top: t });
    });
  });
  return out;
}

/** Images read and transformed one at a time, stacked into batches of one shape. */
async function* imageBatches(
  config: ModelConfig,
  files: readonly string[],
  batchSize: number,
  maxImagePixels: number | null | undefined,
  failed?: Map<number, string>,
): AsyncGenerator<InputBatch> {
  const pre = config.preprocessing ?? {};
  const pipeline = imagePipeline(config);
  const size = pre.inputSize;
  let group: { file: string; x: { data: Float32Array; shape: number[] } }[] = [];
  const flush = (): InputBatch => {
    const shape = group[0]!.x.shape;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n * group.length);
    group.forEach((g, i) => {
      data.set(g.x.data, i * n);
    });
    const b = { input: fromArray(data, [group.length, ...shape]), inputs: group.map((g) => g.file) };
    group = [];
    return b;
  };
  for (const [i, file] of files.entries()) {
    let img: Awaited<ReturnType<typeof readImage>>;
    try {
      img = await readImage(file, (pre.mode as 'RGB' | 'L' | undefined) ?? 'RGB', { maxImagePixels });
    } catch (e) {
      if (!failed || !(e instanceof DataError)) throw e;
      failed.set(i, e.reason);
      continue;
    }
    let x = applyTransforms(img, pipeline, new Rng(0));
    // a pipeline without a crop keeps the aspect ratio: fit the model's input exactly
    if (size && (x.shape[1] !== size[1] || x.shape[2] !== size[2])) {
      const norm = pipeline.filter((t) => t.type === 'normalize');
      const rest = pipeline.filter((t) => t.type !== 'normalize');
      x = applyTransforms(img, [...rest, T.resize([size[1], size[2]]), ...norm], new Rng(0));
    }
    const item = { file, x: { data: Float32Array.from(x.data), shape: [...x.shape] } };
    if (group.length && group[0]!.x.shape.join() !== item.x.shape.join()) yield flush();
    group.push(item);
    if (group.length === batchSize) yield flush();
  }
  if (group.length) yield flush();
}

/** Texts tokenized as the run's tokenizer did, padded to the longest of each batch. */
async function* textBatches(
  config: ModelConfig,
  texts: readonly string[],
  batchSize: number,
): AsyncGenerator<InputBatch> {
  const pre = config.preprocessing ?? {};
  const info = (pre.tokenizer ?? {}) as { path?: string; vocab?: string; lowercase?: boolean; stripAccents?: boolean };
  const tok = info.vocab
    ? TextTokenizer.fromVocabTxt(info.vocab, { lowercase: info.lowercase, stripAccents: info.stripAccents })
    : info.path?.endsWith('.txt')
      ? TextTokenizer.fromVocabTxt(info.path)
      : TextTokenizer.load(String(info.path));
  for (let i = 0; i < texts.length; i += batchSize) {
    const chunk = texts.slice(i, i + batchSize);
    const e = tok.encodeBatch(chunk, null, {
      maxLength: (pre.maxLength as number | undefined) ?? 128,
      padding: 'longest',
    });
    const shape = [...e.shape];
    yield {
      input: {
        inputIds: fromArray(e.inputIds, shape),
        attentionMask: fromArray(e.attentionMask, shape),
        tokenTypeIds: fromArray(e.tokenTypeIds, shape),
      },
      inputs: chunk,
    };
  }
}

/** Predictions as text lines: `file: label 97.1%, label 2.0%, ...`. */
export function formatPredictions(ps: readonly Prediction[]): string {
  return ps
    .map((p) =>
      p.error !== undefined
        ? `${p.input}\n  skipped: ${p.error}`
        : `${p.input}\n${p.top.map((t, r) => `  ${r + 1}. ${t.label.padEnd(16)} ${(t.prob * 100).toFixed(2)}%  (class ${t.index})`).join('\n')}`,
    )
    .join('\n');
}
