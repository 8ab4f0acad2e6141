// `graft predict RUN_DIR INPUTS...`: the top-k classes, by name, of new images (files, folders, globs)
// or texts; printed, or written to a CSV / JSON file with --out.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { existsSync, statSync } from 'node:fs';
import { DataError, ImageTooLargeError, imageInputs, readUtf8File } from '../data/index.ts';
import { isHfDir } from '../io/index.ts';
import { formatPredictions, type Prediction, predict } from '../recipe/index.ts';
import { readModelConfig } from '../train/index.ts';
import { writeFileAtomic } from '../util/write.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { PREDICT_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  'top-k': { type: 'string' },
  json: { type: 'boolean' },
  out: { type: 'string' },
  'max-image-pixels': { type: 'string' },
  'fold-batchnorm': { type: 'boolean' },
} as const;

/** A CSV field, quoted when it must be (RFC 4180). */
const csvField = (v: string): string => (/[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v);

/** The predictions as CSV: `path,label_1,prob_1,...,label_k,prob_k` (`text,...` for a text model). */
export function predictionsCsv(ps: readonly Prediction[], k: number, first: 'path' | 'text' = 'path'): string {
  const n = Math.max(0, ...ps.map((p) => p.top.length));
  const cols = Math.min(k, n || k);
  const errors = ps.some((p) => p.error !== undefined);
  const header = [
    first,
    ...Array.from({ length: cols }, (_, r) => [`label_${r + 1}`, `prob_${r + 1}`]).flat(),
    ...(errors ? ['error'] : []),
  ];
  const rows = ps.map((p) =>
    [
      p.input,
      ...Array.from({ length: cols }, (_, r) => {
        const t = p.top[r];
        return t ? [t.label, String(t.prob)] : ['', ''];
      }).flat(),
      ...(errors ? [p.error ?? ''] : []),
    ]
      .map(csvField)
      .join(','),
  );
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

function textInputs(inputs: readonly string[]): string[] {
  return inputs.flatMap((x) => {
    const st = existsSync(x) ? statSync(x) : undefined;
    if (st?.isDirectory())
      throw new DataError(x, 'is a folder: a text model takes texts, or files whose lines are texts');
    if (!st?.isFile()) return [x];
    const { text, badLines } = readUtf8File(x);
    if (badLines.length)
      throw new DataError(
        x,
        `line ${badLines[0]}: not valid UTF-8`,
        'save the file as UTF-8 (iconv -f latin1 -t utf-8)',
      );
    return text
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  });
}

export function run(args: string[]): Promise<number> {
  return runCommand('predict', USAGE, async () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    const [dir, ...inputs] = positionals;
    if (!dir) throw new UsageError('missing RUN_DIR');
    if (!inputs.length) throw new UsageError('give at least one input: an image file, a folder or a glob');
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no such run folder: ${dir}`);
    // a causal LM (run folder or Hugging Face directory) continues each input: graft generate's defaults
    if (isHfDir(dir) || readModelConfig(dir).task === 'causal-lm') {
      const extra = (['top-k', 'out', 'max-image-pixels', 'fold-batchnorm'] as const).filter((f) => v[f] !== undefined);
      if (extra.length)
        throw new UsageError(`--${extra[0]} is for classifiers: continue prompts with graft generate and its options`);
      const { run: generate } = await import('./generate.ts');
      return generate([dir, ...inputs.flatMap((p) => ['--prompt', p]), ...(v.json ? ['--json'] : [])]);
    }
    const k = intFlag(v['top-k'], '--top-k') ?? 5;
    const maxImagePixels = intFlag(v['max-image-pixels'], '--max-image-pixels');
    const out = v.out;
    if (out !== undefined && !/\.(csv|json)$/i.test(out))
      throw new UsageError(`--out needs a .csv or .json file name, got '${out}'`);
    const text = readModelConfig(dir).preprocessing?.kind === 'text';
    // every input is resolved (and every missing one named) before the model loads
    const items = text ? textInputs(inputs) : imageInputs(inputs);
    let preds: Prediction[];
    try {
      // one unreadable image among many: the others are predicted, it is named, the exit code says so
      preds = await predict(dir, items, {
        topK: k,
        maxImagePixels,
        skipUnreadable: !text && items.length > 1,
        foldBatchNorm: v['fold-batchnorm'] === true,
      });
    } catch (e) {
      if (e instanceof ImageTooLargeError)
        throw new DataError(
          e.file,
          e.reason,
          `if the image is trusted, raise the limit: --max-image-pixels ${e.pixels || 'N'}`,
        );
      throw e;
    }
    if (out !== undefined) {
      const json = /\.json$/i.test(out);
      writeFileAtomic(
        out,
        json ? `${JSON.stringify(preds, null, 1)}\n` : predictionsCsv(preds, k, text ? 'text' : 'path'),
      );
      console.log(`wrote ${preds.length} prediction${preds.length === 1 ? '' : 's'} (top ${k}) to ${out}`);
    } else console.log(v.json ? JSON.stringify(preds, null, 1) : formatPredictions(preds));
    const bad = preds.filter((p) => p.error !== undefined);
    for (const p of bad) console.error(`graft predict: skipped ${p.input}: ${p.error}`);
    if (bad.length)
      console.error(`graft predict: ${bad.length} of ${preds.length} inputs could not be read (exit code 1)`);
    return bad.length ? 1 : 0;
  });
}
