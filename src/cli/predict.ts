// `graft predict RUN_DIR FILES...`: the top-k classes, by name, of new images (or texts).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { formatPredictions, predict } from '../recipe/index.ts';
import { readModelConfig } from '../train/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import type { Command } from './main.ts';

const USAGE = `usage: graft predict RUN_DIR FILES... [--top-k K] [--json]

Rebuilds the model of a run folder from config.json + model.safetensors and prints the top-k
classes with their names and probabilities for each input. Images are preprocessed as
config.json records (the run's evaluation transforms: resize, crop, grayscale, normalize).
For a text model each input is a text, or a file whose lines are texts.

  --top-k K   classes per input (default 5)
  --json      predictions as JSON

Exit codes: 0 ok, 1 bad run folder or unreadable input, 2 usage.`;

const OPTIONS = {
  'top-k': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const predictCommand: Command = {
  name: 'predict',
  summary: 'top-k classes with names for images (or texts), from a run folder',
  usage: USAGE,
  run(args) {
    return runCommand('predict', USAGE, async () => {
      const { values: v, positionals } = parse(args, OPTIONS);
      const [dir, ...inputs] = positionals;
      if (!dir) throw new UsageError('missing RUN_DIR');
      if (!inputs.length) throw new UsageError('give at least one input file');
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`no such run folder: ${dir}`);
      const k = intFlag(v['top-k'], '--top-k') ?? 5;
      const text = readModelConfig(dir).preprocessing?.kind === 'text';
      const items = text
        ? inputs.flatMap((x) =>
            existsSync(x) && statSync(x).isFile()
              ? readFileSync(x, 'utf8')
                  .split('\n')
                  .map((l) => l.trim())
                  .filter(Boolean)
              : [x],
          )
        : inputs;
      const out = await predict(dir, items, { topK: k });
      console.log(v.json ? JSON.stringify(out, null, 1) : formatPredictions(out));
      return 0;
    });
  },
};
