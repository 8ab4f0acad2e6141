// `graft` command dispatch. The command table (commands.ts) holds names and usage texts only; a
// command's module, and with it libtorch and the library, is imported when the command runs, so
// `graft --help`, `graft help CMD`, `graft CMD --help` and `graft --version` answer at once.
import { readFileSync } from 'node:fs';
import { GraftError } from '../errors.ts';
import { didYouMean } from '../util/spelling.ts';
import { type Command, commands } from './commands.ts';

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

/** graft's version, from its package.json (two folders up from src/cli/, as from a compiled dist/cli/). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The command named `name`; else prints "unknown command" (with the nearest name) and the help. */
function find(name: string, where: string): Command | undefined {
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    const near = didYouMean(
      name,
      commands.map((c) => c.name),
    );
    console.error(`${where}: unknown command '${name}'${near ? ` (did you mean '${near}'?)` : ''}\n\n${help()}`);
  }
  return cmd;
}

/** Runs a command line; returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') {
    console.log(version());
    return 0;
  }
  if (name === 'help' && rest.length && !['--help', '-h', 'help'].includes(rest[0]!)) {
    const cmd = find(rest[0]!, 'graft help');
    if (!cmd) return 2;
    console.log(cmd.usage);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return name ? 0 : 2;
  }
  const cmd = find(name, 'graft');
  if (!cmd) return 2;
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.usage);
    return 0;
  }
  try {
    return await (await cmd.load()).run(rest);
  } catch (e) {
    if (e instanceof GraftError) {
      console.error(`graft ${name}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}
