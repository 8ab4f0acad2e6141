// `graft plan RECIPE`: what a run will do before any compute: the pretrained load preview, each
// phase's modules (parameters, trainable or frozen, group, lr) and every group's lr at every epoch.
import { planRecipe } from '../recipe/index.ts';
import { intFlag, parse, runCommand, SET_HELP, UsageError } from './_args.ts';
import { loadFor } from './_recipe.ts';
import type { Command } from './main.ts';

const USAGE = `usage: graft plan RECIPE [--set KEY=VALUE ...] [--json] [--params] [--width N] [--steps-per-epoch N]

Before any compute (no weights are loaded, no batch of data is run; one zero image goes through the
model to check its shapes): the data (classes, split sizes, steps per epoch), the pretrained load
report previewed from checkpoint headers, the parameter
groups, a table per phase of every top-level module and layer group (parameters, trainable or
frozen, group, learning rate, BatchNorm mode), the lr of every group at the start of every epoch
and an ASCII chart of the schedule: "print requires_grad to check the idea was implemented", as a command.

${SET_HELP}
  --json               the plan as JSON (recipe, data, load report, phases, lrs)
  --params             also list every parameter with its group and trainable flag per phase
  --width N            chart width in columns (default 64)
  --steps-per-epoch N  when the data cannot be read here (per-step schedules need it)

Exit codes: 0 ok; 1 a run that would fail before it trains: a bad recipe, data that cannot be read,
a pretrained load that would fail, a phase in which nothing trains (the message says why); 2 usage.`;

const OPTIONS = {
  set: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  params: { type: 'boolean' },
  width: { type: 'string' },
  'steps-per-epoch': { type: 'string' },
} as const;

export const planCommand: Command = {
  name: 'plan',
  summary: 'what a recipe will do, before any compute: load preview, phases, lrs per epoch',
  usage: USAGE,
  run(args) {
    return runCommand('plan', USAGE, () => {
      const { values: v, positionals } = parse(args, OPTIONS);
      if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one RECIPE' : 'missing RECIPE');
      const loaded = loadFor(positionals[0]!, v.set ?? []);
      const p = planRecipe(loaded, {
        width: intFlag(v.width, '--width', 8),
        stepsPerEpoch: intFlag(v['steps-per-epoch'], '--steps-per-epoch'),
        params: v.params,
      });
      console.log(v.json ? JSON.stringify(p.json, null, 1) : p.text);
      if (!p.ok) {
        for (const problem of p.problems) console.error(`graft plan: ${problem}`);
        return 1;
      }
      return 0;
    });
  },
};
