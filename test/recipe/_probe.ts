// Runs a recipe on tiny data with a callback that records, at each epoch start, every group's lr,
// the group names, the optimizer and which parameters train: what the recipe tests compare with
// what each technique does.
import assert from 'node:assert/strict';
import type { RawTensor } from '../../src/io/index.ts';
import { buildRun, loadRecipe, type RunPieces } from '../../src/recipe/index.ts';
import { type Callback, fit } from '../../src/train/index.ts';

export interface EpochProbe {
  epoch: number;
  phase: string | undefined;
  lrs: number[];
  groups: (string | null)[];
  optimizer: string;
  trainable: string[];
}

/** buildRun + fit with a callback that records, at each epoch start, the lrs and what trains. */
export async function probeRun(
  file: string,
  set: string[],
  out: string,
  o: { before?: (p: RunPieces) => void; after?: (p: RunPieces) => void } = {},
): Promise<{ epochs: EpochProbe[]; pieces: RunPieces; steps: number }> {
  const pieces = buildRun(loadRecipe(file, { set: [...set, `output.dir=${out}`] }));
  const epochs: EpochProbe[] = [];
  const probe: Callback = {
    beforeEpoch(t) {
      epochs.push({
        epoch: t.epoch,
        phase: t.phase,
        lrs: t.lrs(),
        groups: t.groupNames(),
        optimizer: t.optimizer.constructor.name,
        trainable: [...t.model.namedParameters()].filter(([, p]) => p.requiresGrad).map(([n]) => n),
      });
    },
  };
  try {
    o.before?.(pieces);
    const r = await fit({ ...pieces.fit, callbacks: [probe], progress: false });
    o.after?.(pieces);
    return { epochs, pieces, steps: r.steps };
  } finally {
    await pieces.dispose();
  }
}

export const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
export const lrsClose = (got: number[], want: number[], what: string) => {
  assert.equal(got.length, want.length, `${what}: ${got} vs ${want}`);
  for (const [i, g] of got.entries()) assert.ok(close(g, want[i]!), `${what}: ${got} vs ${want}`);
};
export const raw = (r: RawTensor) => new Float32Array(r.data.buffer, r.data.byteOffset, r.data.byteLength / 4);
export const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => v === b[i]);
