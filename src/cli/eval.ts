// `graft eval RUN_DIR|RECIPE`: loss, accuracy, top-5, macro-F1 and per-class accuracy on a split.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { existsSync, statSync } from 'node:fs';
import {
  compareQuantized,
  evaluateRecipe,
  evaluateRun,
  formatCompare,
  formatEval,
  type Split,
} from '../recipe/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { isRunDir, loadFor } from './_recipe.ts';
import { EVAL_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  split: { type: 'string' },
  weights: { type: 'string' },
  limit: { type: 'string' },
  set: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  quantize: { type: 'string' },
  calibration: { type: 'string' },
  'fold-batchnorm': { type: 'boolean' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('eval', USAGE, async () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    if (positionals.length !== 1)
      throw new UsageError(positionals.length ? 'give one RUN_DIR or RECIPE' : 'missing RUN_DIR or RECIPE');
    const target = positionals[0]!;
    const split = (v.split ?? 'val') as Split;
    if (!['val', 'test', 'train'].includes(split))
      throw new UsageError(`--split must be val, test or train, got '${v.split}'`);
    const weights = (v.weights ?? 'model') as 'model' | 'best' | 'last' | 'int8';
    if (!['model', 'best', 'last', 'int8'].includes(weights))
      throw new UsageError(`--weights must be model, best, last or int8, got '${v.weights}'`);
    const limit = intFlag(v.limit, '--limit');
    if (!existsSync(target)) throw new UsageError(`no such run folder or recipe: ${target}`);
    if (v.quantize !== undefined) {
      if (v.quantize !== 'dynamic' && v.quantize !== 'static')
        throw new UsageError(`--quantize must be dynamic or static, got '${v.quantize}'`);
      if (!statSync(target).isDirectory() || !isRunDir(target)) throw new UsageError('--quantize needs a run folder');
      const calibrationBatches = intFlag(v.calibration, '--calibration');
      const c = await compareQuantized(target, { split, limit, mode: v.quantize, calibrationBatches });
      console.log(v.json ? JSON.stringify(c, null, 1) : formatCompare(c));
      return 0;
    }
    let result: Awaited<ReturnType<typeof evaluateRun>>;
    if (statSync(target).isDirectory()) {
      if (!isRunDir(target)) throw new UsageError(`${target} is not a run folder (no recipe.yaml)`);
      if (v.set?.length) throw new UsageError('--set applies to recipes; a run folder is evaluated as it was trained');
      result = await evaluateRun(target, { split, weights, limit, foldBatchNorm: v['fold-batchnorm'] === true });
    } else {
      if (v.weights) throw new UsageError('--weights applies to run folders');
      if (v['fold-batchnorm']) throw new UsageError('--fold-batchnorm applies to run folders');
      result = await evaluateRecipe(loadFor(target, v.set ?? []), { split, limit });
    }
    if (v.json) {
      const per = result.metrics.perClassAccuracy ?? [];
      console.log(
        JSON.stringify(
          {
            ...result,
            perClass: per.map((a, i) => ({ class: result.classes[i] ?? String(i), accuracy: a })),
          },
          null,
          1,
        ),
      );
    } else console.log(formatEval(result));
    return 0;
  });
}
