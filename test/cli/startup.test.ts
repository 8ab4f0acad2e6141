// The commands that need no tensors: --version, help, usage. They answer without loading libtorch
// (the native addon loads only when a command runs), and `graft help CMD` is `graft CMD --help`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { commands } from '../../src/cli/commands.ts';
import { main } from '../../src/cli/main.ts';
import { capture } from '../_capture.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = join(ROOT, 'bin', 'graft.mjs');
const graft = (...args: string[]) => capture(() => main(args));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('--version and -v print the package.json version, exit 0', async () => {
  assert.match(VERSION, /^\d+\.\d+\.\d+/);
  for (const flag of ['--version', '-v']) {
    const r = await graft(flag);
    assert.deepEqual(r, { code: 0, out: VERSION, err: '' }, flag);
  }
});

test('graft help CMD is graft CMD --help, for every command; graft help is graft --help', async () => {
  for (const { name } of commands) {
    const viaHelp = await graft('help', name);
    const viaFlag = await graft(name, '--help');
    assert.equal(viaHelp.code, 0, name);
    assert.equal(viaFlag.code, 0, name);
    assert.match(viaFlag.out, new RegExp(`^usage: graft ${name}`));
    assert.equal(viaHelp.out, viaFlag.out, name);
    assert.deepEqual(await graft(name, '-h'), viaFlag, name);
  }
  const top = await graft('--help');
  assert.equal(top.code, 0);
  assert.match(top.out, /^graft: fine-tuning/);
  for (const args of [['help'], ['-h'], ['help', '--help']])
    assert.deepEqual(await graft(...args), top, args.join(' '));
  // no command at all: the same help, as a usage error
  assert.deepEqual(await graft(), { ...top, code: 2 });
});

test('an unknown command is exit 2 with the nearest command and the help', async () => {
  const r = await graft('trian', 'x.yaml');
  assert.equal(r.code, 2);
  assert.equal(r.out, '');
  assert.match(r.err, /^graft: unknown command 'trian' \(did you mean 'train'\?\)\n\ngraft: fine-tuning/);
  const far = await graft('frobnicate');
  assert.equal(far.code, 2);
  assert.match(far.err, /^graft: unknown command 'frobnicate'\n\n/);
  const help = await graft('help', 'inspcet');
  assert.equal(help.code, 2);
  assert.match(help.err, /^graft help: unknown command 'inspcet' \(did you mean 'inspect'\?\)/);
});

/** The shared libraries a real `graft ARGS` process had loaded when it exited, and its result. */
function sharedObjectsOf(...args: string[]): { status: number | null; stdout: string; loaded: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'graft-startup-'));
  try {
    const probe = join(dir, 'probe.mjs');
    const out = join(dir, 'loaded.json');
    writeFileSync(
      probe,
      `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(out)}, JSON.stringify(process.report.getReport().sharedObjects)));\n`,
    );
    const r = spawnSync(process.execPath, ['--import', probe, BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, loaded: JSON.parse(readFileSync(out, 'utf8')) as string[] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const native = (loaded: string[]) => loaded.filter((f) => /\.node$|libtorch|libc10/.test(f));

test('help, usage and --version do not load the native addon or libtorch (real process)', () => {
  for (const args of [['--help'], ['--version'], ['train', '--help'], ['help', 'inspect'], ['trian']]) {
    const r = sharedObjectsOf(...args);
    assert.equal(r.status, args[0] === 'trian' ? 2 : 0, args.join(' '));
    assert.deepEqual(native(r.loaded), [], args.join(' '));
  }
  // the probe sees the addon when a command does load it
  const info = sharedObjectsOf('info', '--json');
  assert.equal(info.status, 0);
  assert.ok(
    native(info.loaded).some((f) => f.endsWith('graft.node')),
    'graft info loads build/graft.node',
  );
  assert.equal(sharedObjectsOf('--version').stdout, `${VERSION}\n`);
});
