// Shared by the recipe commands: argument parsing with usage errors (exit 2), and the exit code
// policy: 0 ok, 1 bad input or a failed run (the message names the file / recipe path), 2 usage.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { GraftError } from '../errors.ts';

export class UsageError extends Error {}

export const SET_HELP = `  --set KEY=VALUE    override a recipe value, repeatable; the value is YAML:
                     --set optimizer.lr=0.01 --set phases[1].epochs=3 --set data.subset.train=64;
                     quote values YAML reads specially (*, &, !, {, [): --set 'phases[0].freeze.freeze="*"'`;

type Options = NonNullable<ParseArgsConfig['options']>;
// spelled out so the compiled .d.ts can name it
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
>;

/** parseArgs that reports unknown flags and bad values as UsageErrors. */
export function parse<O extends Options>(args: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message);
    throw e;
  }
}

export function intFlag(v: string | undefined, flag: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`${flag} needs an integer >= ${min}, got '${v}'`);
  return Number(v);
}

/**
 * Runs a command body with the exit-code policy: usage problems print the usage and give 2;
 * graft errors (bad recipe, data, checkpoint, a failed run) print the message and give 1.
 */
export async function runCommand(name: string, usage: string, body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`graft ${name}: ${e.message}\n\n${usage}`);
      return 2;
    }
    if (e instanceof GraftError) {
      console.error(`graft ${name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
