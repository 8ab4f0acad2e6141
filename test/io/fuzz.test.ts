// Mutates the real fixture files (byte flips, truncations, splices, insertions) and requires every
// read to end in a value or a CheckpointError: never a RangeError, TypeError or hang.
// A few hundred cases by default; GRAFT_SLOW=1 runs 10,000.
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.ts';
import { detectFormat, readPth, readSafetensors, readShardedSafetensors } from '../../src/io/index.ts';
import { FIX, withTmp } from './_helpers.ts';

const CASES = process.env.GRAFT_SLOW === '1' ? 10_000 : 400;
const SEED = Number(process.env.GRAFT_FUZZ_SEED ?? 20240611);

const FILES = [
  'state_dict.pth',
  'checkpoint.pth',
  'legacy.pth',
  'protocol4.pth',
  'protocol5.pth',
  'torch2_style.pth',
  'graft_written_zip64.pth',
  'model.safetensors',
  'sharded/model-00001-of-00002.safetensors',
  'hostile/embedded.pth',
].map((f) => ({ name: f, bytes: new Uint8Array(readFileSync(join(FIX, f))) }));

/** mulberry32: small, seeded, reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Mutation = { kind: string; bytes: Uint8Array };

function mutate(src: Uint8Array, r: () => number, donor: Uint8Array): Mutation {
  const int = (n: number) => Math.floor(r() * n);
  // Most structure sits at the start (pickle, safetensors header) and the end (zip directory).
  const pos = (n: number) => {
    const region = r();
    if (region < 0.4) return int(Math.min(n, 512));
    if (region < 0.7) return Math.max(0, n - 1 - int(Math.min(n, 256)));
    return int(n);
  };
  const b = src.slice();
  switch (int(6)) {
    case 0: {
      const flips = 1 + int(8);
      for (let i = 0; i < flips; i++) b[pos(b.length)] = int(256);
      return { kind: `flip x${flips}`, bytes: b };
    }
    case 1: {
      for (let i = 0, n = 1 + int(4); i < n; i++) b[pos(b.length)]! ^= 1 << int(8);
      return { kind: 'bit flips', bytes: b };
    }
    case 2:
      return { kind: 'truncate', bytes: b.slice(0, int(b.length)) };
    case 3: {
      const from = int(donor.length);
      const len = 1 + int(64);
      const chunk = donor.slice(from, from + len);
      b.set(chunk.subarray(0, Math.max(0, b.length - pos(b.length))), pos(b.length - chunk.length + 1));
      return { kind: 'splice', bytes: b };
    }
    case 4: {
      const at = pos(b.length);
      const ins = donor.slice(int(donor.length), int(donor.length) + 1 + int(32));
      const out = new Uint8Array(b.length + ins.length);
      out.set(b.subarray(0, at));
      out.set(ins, at);
      out.set(b.subarray(at), at + ins.length);
      return { kind: 'insert', bytes: out };
    }
    default: {
      // overwrite a small integer field with an extreme value (sizes, offsets, lengths)
      const at = pos(b.length - 8);
      const extremes = [0xff, 0x7f, 0x80, 0x00];
      for (let i = 0; i < 1 + int(8); i++) b[at + i] = extremes[int(extremes.length)]!;
      return { kind: 'extreme field', bytes: b };
    }
  }
}

function readAny(p: string, r: () => number): void {
  const verifyCrc = r() < 0.3; // mostly off, so corrupt pickles reach the unpickler
  try {
    detectFormat(p);
  } catch (e) {
    if (!(e instanceof CheckpointError)) throw e;
  }
  if (p.endsWith('.safetensors')) readSafetensors(p);
  else readPth(p, { verifyCrc });
}

test(`fuzz: ${CASES} mutated fixtures end in a value or a CheckpointError`, { timeout: 600_000 }, () => {
  withTmp((dir) => {
    const r = rng(SEED);
    const counts = { ok: 0, refused: 0 };
    const reasons = new Map<string, number>();
    for (let i = 0; i < CASES; i++) {
      const file = FILES[Math.floor(r() * FILES.length)]!;
      const donor = FILES[Math.floor(r() * FILES.length)]!.bytes;
      const m = mutate(file.bytes, r, donor);
      const p = join(dir, `case${file.name.endsWith('.safetensors') ? '.safetensors' : '.pth'}`);
      writeFileSync(p, m.bytes);
      const started = Date.now();
      try {
        readAny(p, r);
        counts.ok++;
      } catch (e) {
        if (!(e instanceof CheckpointError)) {
          const keep = join(tmpdir(), `graft-fuzz-failure-${SEED}-${i}.bin`);
          writeFileSync(keep, m.bytes);
          assert.fail(`case ${i} (${file.name}, ${m.kind}, seed ${SEED}) threw ${String(e)}; input saved to ${keep}`);
        }
        counts.refused++;
        const reason = e.message
          .replace(/^[^:]*: /, '')
          .replace(/[0-9]+/g, 'N')
          .slice(0, 60);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      assert.ok(Date.now() - started < 5000, `case ${i} took ${Date.now() - started} ms`);
    }
    assert.equal(counts.ok + counts.refused, CASES);
    assert.ok(counts.refused > CASES / 4, 'mutations should mostly be caught');
    assert.ok(reasons.size > 15, `only ${reasons.size} distinct refusals: mutations too shallow`);
    if (process.env.GRAFT_FUZZ_REPORT === '1') {
      console.log(
        counts,
        [...reasons].sort((a, b) => b[1] - a[1]),
      );
    }
  });
});

test('fuzz: every truncation of a small checkpoint is refused cleanly', () => {
  withTmp((dir) => {
    for (const name of ['legacy.pth', 'torch2_style.pth', 'sharded/model-00002-of-00002.safetensors']) {
      const bytes = readFileSync(join(FIX, name));
      const p = join(dir, name.endsWith('.safetensors') ? 't.safetensors' : 't.pth');
      for (let n = 0; n < bytes.length; n++) {
        writeFileSync(p, bytes.subarray(0, n));
        assert.throws(
          () => (p.endsWith('.safetensors') ? readSafetensors(p) : readPth(p)),
          CheckpointError,
          `${name}[:${n}]`,
        );
      }
    }
  });
});

test('fuzz: a corrupted shard index never escapes as a non-CheckpointError', () => {
  withTmp((dir) => {
    for (const f of ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      copyFileSync(join(FIX, 'sharded', f), join(dir, f));
    }
    const r = rng(SEED + 1);
    const index = readFileSync(join(FIX, 'sharded', 'model.safetensors.index.json'));
    const p = join(dir, 'model.safetensors.index.json');
    for (let i = 0; i < 100; i++) {
      const b = new Uint8Array(index);
      for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 128);
      writeFileSync(p, b);
      try {
        readShardedSafetensors(p);
      } catch (e) {
        if (!(e instanceof CheckpointError)) assert.fail(`index case ${i} threw ${String(e)}`);
      }
    }
  });
});
