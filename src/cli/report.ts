// `graft report RUN_DIR`: renders RUN_DIR/report.html from its metrics.jsonl (and load-report.json)
// at any moment, also while the run is going, and prints the path.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ArgumentError } from '../errors.ts';
import { METRICS_FILE, writeRunReport } from '../report/index.ts';
import { parse, runCommand, UsageError } from './_args.ts';
import { REPORT_USAGE as USAGE } from './commands.ts';

const OPTIONS = { out: { type: 'string' }, title: { type: 'string' } } as const;

export function run(args: string[]): Promise<number> {
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
}
