// `graft predict RUN_DIR FILES...`: top-k classes with their names for new inputs. The model is
// rebuilt from RUN_DIR/config.json + model.safetensors; images go through the evaluation pipeline
// config.json recorded, texts through the recorded tokenizer.

import { applyTransforms, Rng, readImage, T, TextTokenizer, type Transform } from '../data/index.ts';
import { RecipeError } from '../errors.ts';
import { F, fromArray, noGrad, type Tensor, tidy, topk } from '../tensor/index.ts';
import { loadModel, logitsOf, type ModelConfig } from '../train/index.ts';
import { rebuildFromConfig } from './model.ts';

export interface Prediction {
  /** the file (or text) predicted */
  input: string;
  top: { index: number; label: string; prob: number }[];
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
    if (pre.kind === 'text') return predictTexts(model, config, inputs, k);
    const pipeline = imagePipeline(config);
    const size = pre.inputSize;
    const out: Prediction[] = [];
    for (const file of inputs) {
      const img = await readImage(file, (pre.mode as 'RGB' | 'L' | undefined) ?? 'RGB');
      let x = applyTransforms(img, pipeline, new Rng(0));
      // a pipeline without a crop keeps the aspect ratio: fit the model's input exactly
      if (size && (x.shape[1] !== size[1] || x.shape[2] !== size[2])) {
        const norm = pipeline.filter((t) => t.type === 'normalize');
        const rest = pipeline.filter((t) => t.type !== 'normalize');
        x = applyTransforms(img, [...rest, T.resize([size[1], size[2]]), ...norm], new Rng(0));
      }
      const top = tidy(() =>
        noGrad(() => {
          const input = fromArray(x.data, [1, ...x.shape]);
          const logits = logitsOf(model.call(input));
          if (!logits) throw new RecipeError('model', 'predict needs a model that returns class logits');
          return topOf(logits, k, names)[0]!;
        }),
      );
      out.push({ input: file, top });
    }
    return out;
  } finally {
    model.dispose();
  }
}

function predictTexts(
  model: ReturnType<typeof loadModel>['model'],
  config: ModelConfig,
  texts: readonly string[],
  k: number,
): Prediction[] {
  const pre = config.preprocessing ?? {};
  const info = (pre.tokenizer ?? {}) as { path?: string; vocab?: string; lowercase?: boolean; stripAccents?: boolean };
  const tok = info.vocab
    ? TextTokenizer.fromVocabTxt(info.vocab, { lowercase: info.lowercase, stripAccents: info.stripAccents })
    : info.path?.endsWith('.txt')
      ? TextTokenizer.fromVocabTxt(info.path)
      : TextTokenizer.load(String(info.path));
  const e = tok.encodeBatch(texts, null, {
    maxLength: (pre.maxLength as number | undefined) ?? 128,
    padding: 'longest',
  });
  const shape = [...e.shape];
  return tidy(() =>
    noGrad(() => {
      const out = model.call({
        inputIds: fromArray(e.inputIds, shape),
        attentionMask: fromArray(e.attentionMask, shape),
        tokenTypeIds: fromArray(e.tokenTypeIds, shape),
      });
      const logits = logitsOf(out);
      if (!logits) throw new RecipeError('model', 'predict needs a model that returns class logits');
      return topOf(logits, k, config.classNames ?? []).map((top, i) => ({ input: texts[i]!, top }));
    }),
  );
}

/** Predictions as text lines: `file: label 97.1%, label 2.0%, ...`. */
export function formatPredictions(ps: readonly Prediction[]): string {
  return ps
    .map(
      (p) =>
        `${p.input}\n${p.top.map((t, r) => `  ${r + 1}. ${t.label.padEnd(16)} ${(t.prob * 100).toFixed(2)}%  (class ${t.index})`).join('\n')}`,
    )
    .join('\n');
}
