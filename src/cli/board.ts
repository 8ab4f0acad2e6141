// `graft board [DIR]`: serves the live run board for the run folders under DIR (default runs) on
// a loopback address until Ctrl-C. Loads no tensors: the board only reads files.
// Its usage text lives in commands.ts: main.ts imports this module only to run it.
import { spawn } from 'node:child_process';
import { startBoard } from '../board/index.ts';
import { intFlag, parse, runCommand, UsageError } from './_args.ts';
import { BOARD_USAGE as USAGE } from './commands.ts';

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'allow-remote': { type: 'boolean' },
  open: { type: 'boolean' },
  poll: { type: 'string' },
} as const;

/** Opens `url` in the desktop's browser; a failure only prints a note (the URL is printed anyway). */
function openBrowser(url: string): void {
  const cmd = process.platform === 'darwin' ? 'open' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => console.error(`graft board: could not start ${cmd}; open ${url} yourself`));
    child.unref();
  } catch {
    console.error(`graft board: could not start ${cmd}; open ${url} yourself`);
  }
}

export function run(args: string[]): Promise<number> {
  return runCommand('board', USAGE, async () => {
    const { values: v, positionals } = parse(args, OPTIONS);
    if (positionals.length > 1) throw new UsageError(`give one DIR, got ${positionals.length}`);
    const port = intFlag(v.port, '--port', 0);
    if (port !== undefined && port > 65535) throw new UsageError(`--port needs 0..65535, got ${port}`);
    const pollMs = intFlag(v.poll, '--poll', 50);
    const dir = positionals[0] ?? 'runs';
    const board = await startBoard({
      dir,
      ...(v.host ? { host: v.host } : {}),
      ...(port !== undefined ? { port } : {}),
      ...(pollMs ? { pollMs } : {}),
      ...(v['allow-remote'] ? { allowRemote: true } : {}),
    });
    if (v['allow-remote'])
      console.error(
        `graft board: WARNING: serving on ${board.host}: anyone who can reach this address can read the runs under ${dir} (no password)`,
      );
    console.log(`graft board: ${dir} at ${board.url} (Ctrl-C to stop)`);
    if (v.open) openBrowser(board.url);
    await new Promise<void>((done) => {
      const stop = () => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void board.close().then(done);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    return 0;
  });
}
