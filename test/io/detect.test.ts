// Format detection says what is wrong with a file it cannot take, not only that it is unrecognised.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { detectFormat, openCheckpoint, readPth } from '../../src/io/index.ts';
import { FIX, withTmp } from './_helpers.ts';

test('a safetensors file whose header length runs past the file: truncated, or not safetensors', () => {
  const whole = readFileSync(join(FIX, 'model.safetensors'));
  const headerLen = Number(whole.readBigUInt64LE(0));
  withTmp((dir) => {
    const cut = join(dir, 'cut.safetensors');
    // a download cut inside the header, and a hostile length on an otherwise small file
    const hostile = Buffer.from(whole.subarray(0, 64));
    hostile.writeBigUInt64LE(2n ** 40n);
    for (const [bytes, n] of [
      [whole.subarray(0, Math.floor(headerLen / 2)), headerLen],
      [hostile, 2 ** 40],
    ] as const) {
      writeFileSync(cut, bytes);
      const says = (e: unknown) =>
        e instanceof CheckpointError &&
        e.message.includes(`safetensors header length ${n} > file size ${bytes.length}`) &&
        /truncated, or not a safetensors file/.test(e.message) &&
        !/unrecognised/.test(e.message);
      assert.throws(() => detectFormat(cut), says);
      assert.throws(() => openCheckpoint(cut), says);
      assert.throws(() => readPth(cut), says);
    }
  });
});

test('a file that is no checkpoint at all is still "unrecognised"', () => {
  withTmp((dir) => {
    const p = join(dir, 'notes.bin');
    writeFileSync(p, 'just some text, not a checkpoint');
    assert.throws(() => detectFormat(p), /unrecognised checkpoint format/);
  });
});
