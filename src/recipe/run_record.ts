// What a recipe run keeps about itself: recipe.yaml and load-report.json in the run folder (written
// atomically, and only once the run has started: a refused or failed start leaves the folder as it
// was), and, inside every checkpoint, the recipe and the data's fingerprint, so a run can be
// resumed from its checkpoint alone and a resume on other data is refused.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadReport } from '../io/index.ts';
import { type Callback, faultHalfWritten, readCheckpoint } from '../train/index.ts';
import { writeFileAtomic } from '../util/write.ts';
import type { DataFingerprint } from './resume.ts';

/** What a checkpoint keeps about its recipe run (the 'run' callback's state). */
export interface RunRecord {
  /** recipe.yaml's text */
  recipe?: string;
  data?: DataFingerprint;
}

/** The run record and position of a checkpoint (older checkpoints have no record). */
export function readRunRecord(checkpoint: string): { record: RunRecord; epoch: number; batch: number; step: number } {
  const { tree } = readCheckpoint(checkpoint);
  const rec = (tree.callbacks?.run ?? {}) as Record<string, unknown>;
  return {
    record: {
      ...(typeof rec.recipe === 'string' ? { recipe: rec.recipe } : {}),
      ...(rec.data && typeof rec.data === 'object' ? { data: rec.data as DataFingerprint } : {}),
    },
    epoch: Number(tree.epoch),
    batch: Number(tree.batch),
    step: Number(tree.step),
  };
}

/** The recipe a run trained with: from its checkpoint, else the run folder's recipe.yaml. */
export function recordedRecipe(record: RunRecord, runDir: string): string | undefined {
  if (record.recipe) return record.recipe;
  const f = join(runDir, 'recipe.yaml');
  return existsSync(f) ? readFileSync(f, 'utf8') : undefined;
}

/**
 * The callback that writes recipe.yaml (and, for a new run, load-report.json) when the run starts
 * and puts the recipe and data fingerprint into every checkpoint.
 */
export function runRecordCallback(o: {
  outDir: string;
  recipeYaml: string;
  data: DataFingerprint;
  loadReport: LoadReport | undefined;
  resumed: boolean;
}): Callback {
  return {
    name: 'run',
    // before the logger (0) and the checkpoints (100); after an overwrite's clean-up (-2000)
    order: -50,
    beforeFit() {
      writeFileAtomic(join(o.outDir, 'recipe.yaml'), o.recipeYaml, {
        flush: true,
        beforeRename: (tmp) => faultHalfWritten('recipe-write', tmp),
      });
      if (!o.resumed && o.loadReport)
        writeFileAtomic(join(o.outDir, 'load-report.json'), `${JSON.stringify(o.loadReport.toJSON(), null, 1)}\n`, {
          flush: true,
        });
    },
    stateDict: () => ({ recipe: o.recipeYaml, data: o.data }),
  };
}

/** The lines printed when a run starts: where its weights come from, and a warning when little did. */
export function loadSummary(
  report: LoadReport | undefined,
  hf?: { dir: string; files: string[]; loaded: number },
): { lines: string[]; warning?: string } {
  if (hf)
    return {
      lines: [
        `weights: ${hf.dir} (Hugging Face folder: ${hf.loaded} tensors from ${hf.files.length} file(s), all keys matched)`,
      ],
    };
  if (!report) return { lines: ['weights: none loaded (the model starts from its initialisation)'] };
  const p = report.parameters;
  const share = p.total ? p.loaded / p.total : 1;
  const lines = [
    `weights: ${report.file}`,
    ...report
      .summary()
      .split('\n')
      .map((l) => `  ${l}`),
  ];
  if (share >= 0.5) return { lines };
  return {
    lines,
    warning:
      `WARNING: only ${(share * 100).toFixed(1)}% of the model's parameters came from the checkpoint ` +
      `(${report.counts.loaded} of ${report.counts.model} keys); the rest start from random initialisation. ` +
      'Check model.pretrained (the checkpoint, onShapeMismatch, include / exclude, rename) if that is not intended.',
  };
}
