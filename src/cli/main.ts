// `graft` command dispatch. Each command is a module with a name, a summary and run(args).
import { GraftError } from '../errors.ts';
import { evalCommand } from './eval.ts';
import { info } from './info.ts';
import { inspect } from './inspect.ts';
import { planCommand } from './plan.ts';
import { predictCommand } from './predict.ts';
import { reportCommand } from './report.ts';
import { train } from './train.ts';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(args: string[]): Promise<number> | number;
}

const commands: Command[] = [train, planCommand, evalCommand, predictCommand, reportCommand, inspect, info];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'graft: fine-tuning for TypeScript on libtorch',
    '',
    'usage: graft <command> [options]     graft <command> --help',
    '',
    'commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** Runs a command line; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`graft: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof GraftError) {
      console.error(`graft ${name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
