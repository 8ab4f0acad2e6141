// Signals reach the trainer with in-memory data too: the loop yields to the event loop between
// batches, so a SIGINT handler runs at once and its requestStop ends the run at the next step
// (at the next accumulation boundary with accumulation).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

interface Outcome {
  atSignal: number | undefined;
  final: number;
  stopReason: string | undefined;
  total: number;
}

function runChild(accumulate: number): Promise<Outcome> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, '_signal_child.ts'), String(accumulate)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const before = out;
      out += d.toString();
      if (!before.includes('ready') && out.includes('ready')) child.kill('SIGINT');
    });
    child.on('exit', (code) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`child exited ${code}: ${out}`));
      else resolve(JSON.parse(last) as Outcome);
    });
  });
}

for (const accumulate of [1, 4])
  test(`SIGINT during training on in-memory data stops the run at the next step (accumulate ${accumulate})`, async () => {
    const r = await runChild(accumulate);
    assert.equal(r.stopReason, 'SIGINT');
    assert.ok(r.atSignal !== undefined && r.atSignal < r.total, `the handler ran during the run: ${JSON.stringify(r)}`);
    assert.ok(r.final - r.atSignal! <= 1, `stopped at the next step: ${JSON.stringify(r)}`);
    assert.ok(r.final < r.total);
  });
