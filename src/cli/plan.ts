// `graft plan RECIPE`: what a run will do before any compute: the pretrained load preview, each
// phase's modules (parameters, trainable or frozen, group, lr) and every group's lr at every epoch.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { fetchPretrained, planRecipe } from '../recipe/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { loadFor } from './_recipe.ts';
import { PLAN_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  set: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  params: { type: 'boolean' },
  width: { type: 'string' },
  'steps-per-epoch': { type: 'string' },
  nproc: { type: 'string' },
} as const;

export function run(args: string[]): Promise<number> {
  return runCommand('plan', USAGE, async () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one RECIPE' : 'missing RECIPE');
    const loaded = loadFor(positionals[0]!, v.set ?? []);
    // weights named by source (torchvision:..., hf:...) are downloaded to preview their load
    await fetchPretrained(loaded.recipe.model);
    const p = planRecipe(loaded, {
      width: intFlag(v.width, '--width', 8),
      stepsPerEpoch: intFlag(v['steps-per-epoch'], '--steps-per-epoch'),
      params: v.params,
      processes: intFlag(v.nproc, '--nproc'),
    });
    console.log(v.json ? JSON.stringify(p.json, null, 1) : p.text);
    if (!p.ok) {
      for (const problem of p.problems) console.error(`graft plan: ${problem}`);
      return 1;
    }
    return 0;
  });
}
