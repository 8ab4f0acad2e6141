// `graft inspect FILE`: what a checkpoint holds, and (--against MODEL) what loading it into a
// registry model would do, from headers only: nothing is loaded into anything.
// Its usage text lives in commands.ts: main.ts imports this module (and libtorch) only to run it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ArgumentError } from '../errors.ts';
import {
  isHfDir,
  type LoadPlan,
  openCheckpoint,
  previewLoad,
  type RenameRule,
  renameRules,
  summarizeHfDir,
} from '../io/index.ts';
import * as models from '../models/index.ts';
import { INSPECT_USAGE as USAGE } from './commands.ts';
import { renderHfDir } from './inspect_hf.ts';
import { renderTree, treeJson } from './inspect_tree.ts';

const OPTIONS = {
  json: { type: 'boolean' },
  limit: { type: 'string' },
  depth: { type: 'string' },
  against: { type: 'string' },
  'num-classes': { type: 'string' },
  'sub-dict': { type: 'string' },
  'from-prefix': { type: 'string' },
  'include-original': { type: 'string', multiple: true },
  'exclude-original': { type: 'string', multiple: true },
  'strip-prefix': { type: 'string', multiple: true },
  'add-prefix': { type: 'string', multiple: true },
  rename: { type: 'string', multiple: true },
  include: { type: 'string', multiple: true },
  exclude: { type: 'string', multiple: true },
  'skip-mismatch': { type: 'boolean' },
  strict: { type: 'boolean' },
  plan: { type: 'string' },
  'hide-loaded': { type: 'boolean' },
} as const;

class UsageError extends Error {}

function count(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} needs a non-negative integer, got '${v}'`);
  return Number(v);
}

type Values = ReturnType<typeof parse>['values'];

function parse(args: string[]) {
  return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
}

/** The plan the flags describe (on top of --plan FILE.json). */
export function planFromFlags(v: Values): LoadPlan {
  let plan: LoadPlan = {};
  if (v.plan !== undefined) {
    try {
      plan = JSON.parse(readFileSync(v.plan, 'utf8')) as LoadPlan;
    } catch (e) {
      throw new UsageError(`--plan ${v.plan}: ${(e as Error).message}`);
    }
  }
  const rename: RenameRule[] = [...renameRules(plan.rename)];
  for (const p of v['strip-prefix'] ?? []) rename.push({ stripPrefix: p });
  for (const p of v['add-prefix'] ?? []) rename.push({ addPrefix: p });
  for (const r of v.rename ?? []) {
    const i = r.indexOf('=');
    if (i <= 0) throw new UsageError(`--rename needs REGEX=REPLACEMENT, got '${r}'`);
    rename.push([r.slice(0, i), r.slice(i + 1)]);
  }
  const list = <T>(a: T | readonly T[] | undefined): T[] =>
    a === undefined ? [] : Array.isArray(a) ? [...a] : [a as T];
  const include = [...list(plan.include), ...(v.include ?? [])];
  const exclude = [...list(plan.exclude), ...(v.exclude ?? [])];
  const includeOriginal = [...list(plan.includeOriginal), ...(v['include-original'] ?? [])];
  const excludeOriginal = [...list(plan.excludeOriginal), ...(v['exclude-original'] ?? [])];
  return {
    ...plan,
    ...(v['sub-dict'] !== undefined ? { subDict: v['sub-dict'] } : {}),
    ...(v['from-prefix'] !== undefined ? { fromPrefix: v['from-prefix'] } : {}),
    ...(rename.length ? { rename } : {}),
    ...(include.length ? { include } : {}),
    ...(exclude.length ? { exclude } : {}),
    ...(includeOriginal.length ? { includeOriginal } : {}),
    ...(excludeOriginal.length ? { excludeOriginal } : {}),
    ...(v['skip-mismatch'] ? { onShapeMismatch: 'skip' as const } : {}),
    ...(v.strict ? { strict: true } : {}),
  };
}

function against(file: string, v: Values): number {
  const name = v.against!;
  const numClasses = count(v['num-classes'], '--num-classes');
  let plan: LoadPlan;
  let model: ReturnType<typeof models.create>;
  try {
    plan = planFromFlags(v);
    model = models.create(name, numClasses === undefined ? {} : { numClasses });
  } catch (e) {
    if (e instanceof ArgumentError) throw new UsageError(e.message);
    throw e;
  }
  try {
    const report = previewLoad(model, file, plan);
    const label = `${name}${numClasses === undefined ? '' : ` (numClasses ${numClasses})`}`;
    if (v.json) console.log(JSON.stringify({ model: label, ...report.toJSON() }, null, 1));
    else console.log(`model       ${label}\n${report.table({ loaded: !v['hide-loaded'], error: false })}`);
    if (report.error) {
      if (!v.json) console.error(`graft inspect: the load would fail: ${report.error.message}`);
      return 1;
    }
    return 0;
  } catch (e) {
    if (e instanceof ArgumentError) throw new UsageError(e.message);
    throw e;
  } finally {
    model.dispose();
  }
}

export function run(args: string[]): number {
  try {
    const { values: v, positionals } = parse(args);
    if (positionals.length !== 1) throw new UsageError(positionals.length ? 'give one FILE' : 'missing FILE');
    const file = positionals[0]!;
    const planFlags = [
      'num-classes',
      'sub-dict',
      'from-prefix',
      'include-original',
      'exclude-original',
      'strip-prefix',
      'add-prefix',
      'rename',
      'include',
      'exclude',
      'skip-mismatch',
      'strict',
      'plan',
      'hide-loaded',
    ] as const;
    if (v.against === undefined) {
      const used = planFlags.filter((f) => v[f] !== undefined);
      if (used.length) throw new UsageError(`--${used[0]} needs --against MODEL`);
      if (isHfDir(file)) {
        const summary = summarizeHfDir(file);
        console.log(v.json ? JSON.stringify(summary, null, 1) : renderHfDir(file, summary));
        return 0;
      }
      const opened = openCheckpoint(file);
      if (v.json) console.log(JSON.stringify(treeJson(opened), null, 1));
      else
        console.log(
          renderTree(opened, { limit: count(v.limit, '--limit'), depth: count(v.depth, '--depth') }).join('\n'),
        );
      return 0;
    }
    return against(file, v);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`graft inspect: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
