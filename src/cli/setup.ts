// `graft setup`: builds the native addon against the libtorch it finds (what npm's install step
// does, for when npm skipped it or libtorch came later). Usage text in commands.ts.
import { parse, runCommand } from './_args.ts';
import { nativeTools } from './_native.ts';
import { SETUP_USAGE } from './commands.ts';

export function run(args: string[]): Promise<number> {
  return runCommand('setup', SETUP_USAGE, async () => {
    const { values } = parse(args, { quiet: { type: 'boolean' } });
    const tools = await nativeTools();
    const log = values.quiet ? () => {} : (line: string) => console.log(line);
    let r: Awaited<ReturnType<typeof tools.ensureAddon>>;
    try {
      r = await tools.ensureAddon({ log });
    } catch (e) {
      // a bad GRAFT_LIBTORCH, no C++ compiler, no Node headers, a failed compile (its output is above)
      console.error(`graft setup: ${(e as Error).message}`);
      console.error(
        'the addon needs a C++17 compiler (g++ or clang++) and Node.js headers; then run graft setup again',
      );
      return 1;
    }
    if (r.action === 'no-libtorch') {
      console.error(tools.NO_LIBTORCH);
      return 1;
    }
    const where = r.torch ? ` against libtorch from ${r.torch.source} (${r.torch.dir})` : '';
    log(`graft setup: ${tools.addonPath} ${r.action === 'up-to-date' ? 'is up to date' : r.action}${where}`);
    return 0;
  });
}
