// `graft report RUN_DIR`: renders RUN_DIR/report.html from its metrics.jsonl (and load-report.json)
// at any moment, also while the run is going, and prints the path.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { METRICS_FILE, writeRunReport } from '../report/index.ts';
import { parse, runCommand, UsageError } from './_args.ts';
import type { Command } from './main.ts';

const USAGE = `usage: graft report RUN_DIR [--out FILE] [--title TEXT]

Renders the run's report (charts of loss, accuracy and the learning rate of every step, the epochs,
per-class accuracy, the confusion matrix, the checkpoint load) from RUN_DIR/metrics.jsonl into
RUN_DIR/report.html, and prints its path. Works while the run is going: a run renders its report
when it ends and every 10 minutes on the way.
  --out FILE     write the report there instead
  --title TEXT   the page title

Exit codes: 0 ok, 1 not a run folder, an unreadable metrics.jsonl or a failed write, 2 usage.`;

const OPTIONS = { out: { type: 'string' }, title: { type: 'string' } } as const;

export const reportCommand: Command = {
  name: 'report',
  summary: "render a run's report.html from its metrics.jsonl (also while it runs)",
  usage: USAGE,
  run(args) {
    return runCommand('report', USAGE, async () => {
      const { values: v, positionals } = parse(args, OPTIONS);
      if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one RUN_DIR' : 'missing RUN_DIR');
      const dir = positionals[0]!;
      if (!existsSync(dir) || !statSync(dir).isDirectory())
        throw new ArgumentError(`no such run folder: ${dir}`, 'give the --out folder of a graft train run');
      if (!existsSync(resolve(dir, METRICS_FILE)))
        throw new ArgumentError(
          `${dir} is not a run folder (no ${METRICS_FILE})`,
          'give the --out folder of a graft train run',
        );
      const path = await writeRunReport(dir, {
        ...(v.out ? { out: v.out } : {}),
        ...(v.title ? { title: v.title } : {}),
      });
      console.log(path);
      return 0;
    });
  },
};
