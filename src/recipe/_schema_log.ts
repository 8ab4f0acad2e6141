// The recipe's `log` section: run tracking beside metrics.jsonl (src/track): TensorBoard event
// files and metrics.csv in the run folder.
import { z } from 'zod';
import { bool, int, pos, str } from './_schema_parts.ts';

export const LogSection = z.strictObject({
  tensorboard: z
    .union([
      bool(),
      z.strictObject({
        dir: str()
          .optional()
          .describe('folder of the event files, relative to the run folder (default: the run folder itself)'),
        histogramsEvery: int(1)
          .optional()
          .describe('histograms of the trainable weights and their gradients every N optimizer steps (default: none)'),
        flushSecs: pos().optional().describe('seconds between writes to the event file at most (default 120)'),
        hparams: bool().optional().describe("the recipe's settings in TensorBoard's HPARAMS tab (default true)"),
      }),
    ])
    .optional()
    .describe('TensorBoard event files: `tensorboard --logdir runs` shows the run (default false)'),
  csv: bool().optional().describe('metrics.csv in the run folder: the same scalars, one row per log (default false)'),
});

export type RecipeLog = z.infer<typeof LogSection>;
