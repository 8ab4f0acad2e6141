// Every loss a run logged in its metrics.jsonl, keyed by where it was logged, for bit-for-bit
// comparisons between two runs of the same seeded recipe.
import { readFileSync } from 'node:fs';

/** 'step 3 loss' -> value, 'epoch 0 train.loss' -> value, 'epoch 0 eval.loss' -> value, ... */
export function loggedLosses(metricsFile: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(metricsFile, 'utf8').split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line);
    if (r.type === 'step') out.set(`step ${r.step} loss`, r.loss);
    if (r.type === 'epoch') {
      out.set(`epoch ${r.epoch} train.loss`, r.train?.loss);
      if (r.eval) out.set(`epoch ${r.epoch} eval.loss`, r.eval.loss);
    }
  }
  return out;
}

/** The first loss that differs between two runs (Object.is: bit for bit, NaN equals NaN), or undefined. */
export function firstDifference(a: Map<string, number>, b: Map<string, number>): string | undefined {
  const keys = [...new Set([...a.keys(), ...b.keys()])];
  for (const k of keys) if (!Object.is(a.get(k), b.get(k))) return `${k}: ${a.get(k)} vs ${b.get(k)}`;
  return undefined;
}
