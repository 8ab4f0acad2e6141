// Resuming mid-epoch with another world size is exact: the epoch's global order is torch's
// DistributedSampler permutation (seed + epoch), a checkpoint records how many of its samples were
// consumed, and the resumed ranks share out the rest. 1 process -> 2 and 2 -> 1, against a run
// never stopped: each step consumes the same samples (no sample twice, none skipped), and with the
// same effective batch (16 = 1 x 16 = 2 x 8) and SyncBatchNorm the parameters and running
// statistics are that run's to float rounding (the sums are split differently over the ranks).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type RankResult, runRanks } from './_spawn.ts';

const SAMPLES = 60;
const dir = mkdtempSync(join(tmpdir(), 'graft-resume-world-'));
type Seen = { epoch: number; step: number; samples: number[] };
let full: RankResult;
let cutOne: RankResult[];
let cutTwo: RankResult[];

const run = (world: number, batch: number, out: string, stopAfter: number, resume: boolean) =>
  runRanks('./_resume_worker.ts', [String(batch), join(dir, out), String(stopAfter), resume ? '1' : '0'], { world });

before(async () => {
  // the uninterrupted run and the two runs to be cut, side by side
  let fulls: RankResult[];
  [fulls, cutOne, cutTwo] = await Promise.all([
    run(1, 16, 'full', 0, false),
    run(1, 16, 'one', 2, false),
    run(2, 8, 'two', 3, false),
  ]);
  full = fulls[0]!;
  for (const r of [full, ...cutOne, ...cutTwo]) assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The samples each step consumed over all ranks (sorted within a step), by step number. */
function steps(...ranks: RankResult[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const r of ranks)
    for (const s of r.results[0].seen as Seen[]) out.set(s.step, [...(out.get(s.step) ?? []), ...s.samples]);
  for (const v of out.values()) v.sort((a, b) => a - b);
  return out;
}

function checkAgainstFull(stopped: RankResult[], resumed: RankResult[], stopStep: number): void {
  const want = steps(full);
  const before = steps(...stopped);
  const afterStop = steps(...resumed);
  assert.deepEqual(
    [...before.keys()],
    Array.from({ length: stopStep }, (_, i) => i + 1),
  );
  const got = new Map([...before, ...afterStop]);
  assert.deepEqual([...got.keys()], [...want.keys()], 'the same step numbers');
  for (const [step, samples] of want) assert.deepEqual(got.get(step), samples, `step ${step} consumed other samples`);
  // each epoch: all 60 samples, each once
  const epoch0 = [1, 2, 3, 4].flatMap((s) => got.get(s)!).sort((a, b) => a - b);
  assert.deepEqual(
    epoch0,
    Array.from({ length: SAMPLES }, (_, i) => i),
  );
  const ref = full.results[0].state as Record<string, number[]>;
  for (const r of resumed) {
    const state = r.results[0].state as Record<string, number[]>;
    for (const [k, v] of Object.entries(ref)) {
      const worst = Math.max(...v.map((x, i) => Math.abs(x - state[k]![i]!)));
      assert.ok(worst < 2e-5, `rank ${r.rank} ${k}: off by ${worst} from the run never stopped`);
    }
  }
}

test('1 process stopped mid-epoch, resumed on 2: the samples and weights of the run never stopped', async () => {
  const resumed = await run(2, 8, 'one', 0, true);
  for (const r of resumed) assert.equal(r.code, 0, r.stderr);
  checkAgainstFull(cutOne, resumed, 2);
});

test('2 processes stopped mid-epoch, resumed in 1: the samples and weights of the run never stopped', async () => {
  const resumed = await run(1, 16, 'two', 0, true);
  for (const r of resumed) assert.equal(r.code, 0, r.stderr);
  checkAgainstFull(cutTwo, resumed, 3);
});
