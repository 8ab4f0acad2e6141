// Checkpoints are written to a temp file and renamed: a write that fails half-way (an exception,
// or the process killed with SIGKILL) leaves the previous checkpoint whole and loadable.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeAtomic } from '../../src/io/file.ts';
import {
  type CheckpointWriter,
  defaultWriter,
  fit,
  readCheckpoint,
  removeStaleTemps,
  writeCheckpoint,
} from '../../src/train/index.ts';
import { rmDir, setup, tmpDir } from './_helpers.ts';

test('a checkpoint write that throws half-way leaves the previous checkpoint intact', async () => {
  const out = tmpDir();
  try {
    let calls = 0;
    const writer: CheckpointWriter = (path, tree) => {
      calls += 1;
      if (calls < 2) return defaultWriter(path, tree);
      writeAtomic(path, (sink) => {
        sink.write(new Uint8Array(4096).fill(7)); // a partly written temp file
        throw new Error('disk full (simulated)');
      });
    };
    const last = join(out, 'checkpoints', 'last.pth');
    await assert.rejects(
      fit({ ...setup(1), epochs: 3, outDir: out, progress: false, checkpoint: { writer } }),
      /disk full \(simulated\)/,
    );
    assert.equal(calls, 2);
    const ck = readCheckpoint(last).tree;
    assert.equal(ck.epoch, 1, 'still the epoch-1 checkpoint');
    assert.deepEqual(readdirSync(join(out, 'checkpoints')).sort(), ['best.pth', 'last.pth'], 'no temp file left');
    assert.ok(!existsSync(join(out, 'model.safetensors')), 'a failed run exports nothing');
    // and the run continues from it
    const r = await fit({ ...setup(1), epochs: 3, outDir: out, progress: false, resume: true });
    assert.equal(r.epochsRun, 3);
  } finally {
    rmDir(out);
  }
});

test('a process killed with SIGKILL while writing a checkpoint leaves the previous one intact', async () => {
  const out = tmpDir();
  try {
    const path = join(out, 'last.pth');
    writeCheckpoint(path, {
      model: new Map(),
      optimizer: { state: {}, param_groups: [] },
      epoch: 1,
      batch: 0,
      step: 10,
    });
    const before = readFileSync(path);
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '_write_child.ts'), path], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const killed = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (!d.toString().includes('writing')) return;
        // kill as soon as the temp file exists and has bytes in it: the rename has not happened yet
        const poll = setInterval(() => {
          const tmp = readdirSync(out).find((n) => n.includes('.tmp-'));
          if (tmp && statSync(join(out, tmp)).size > 0) {
            clearInterval(poll);
            child.kill('SIGKILL');
          }
        }, 1);
      });
      child.on('exit', (_code, signal) =>
        signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited: ${signal}`)),
      );
    });
    await killed;
    const left = readdirSync(out).filter((n) => n.includes('.tmp-'));
    assert.equal(left.length, 1, 'the killed writer left its temp file');
    assert.deepEqual(readFileSync(path), before, 'last.pth is byte for byte the previous checkpoint');
    assert.equal(readCheckpoint(path).tree.step, 10);
    assert.deepEqual(removeStaleTemps(out), left);
    assert.deepEqual(readdirSync(out), ['last.pth']);
  } finally {
    rmDir(out);
  }
});

test('readCheckpoint names the file and what is wrong', () => {
  const out = tmpDir();
  try {
    assert.throws(() => readCheckpoint(join(out, 'nope.pth')), /nope\.pth: no such checkpoint/);
    const other = join(out, 'weights.pth');
    defaultWriter(other, { a: 1 });
    assert.throws(() => readCheckpoint(other), /not a graft training checkpoint/);
  } finally {
    rmDir(out);
  }
});
