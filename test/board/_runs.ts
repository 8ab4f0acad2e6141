// Shared by the board tests: tiny run folders written the way graft train writes them (one JSON
// record per line in metrics.jsonl, recipe.yaml next to it).
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsRecord } from '../../src/report/index.ts';

export const line = (r: MetricsRecord): string => `${JSON.stringify(r)}\n`;

export function stepRecord(step: number, loss: number, lr = 0.1): MetricsRecord {
  return { type: 'step', time: 1000 + step, epoch: 0, step, loss, lr: [lr], phase: 'head' };
}

export function epochRecord(epoch: number, step: number, loss: number, acc: number): MetricsRecord {
  return {
    type: 'epoch',
    time: 2000 + epoch,
    epoch,
    step,
    phase: 'head',
    lr: [0.1],
    train: { loss, accuracy: acc - 0.1 },
    eval: { loss: loss + 0.1, accuracy: acc },
    seconds: 1.5,
  };
}

/** A run folder at root/id: recipe.yaml (with lr) and metrics.jsonl (a start, `steps` step records, one epoch). */
export function writeRun(root: string, id: string, o: { lr: number; steps: number; end?: boolean; extra?: string }) {
  const dir = join(root, id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'recipe.yaml'),
    `model:\n  name: resnet18\n  numClasses: 3\noptimizer:\n  name: adamw\n  lr: ${o.lr}\nphases:\n  - name: head\n    epochs: 2\n`,
  );
  let text = line({
    type: 'run',
    time: 1000,
    event: 'start',
    epoch: 0,
    step: 0,
    info: { model: 'resnet18', epochs: 2 },
  });
  for (let s = 1; s <= o.steps; s++) text += line(stepRecord(s, 2 / s + o.lr, o.lr));
  text += line(epochRecord(0, o.steps, 1 + o.lr, 0.5 + o.lr));
  text += o.extra ?? '';
  if (o.end) text += line({ type: 'run', time: 3000, event: 'end', epoch: 1, step: o.steps });
  writeFileSync(join(dir, 'metrics.jsonl'), text);
  return dir;
}

export const append = (dir: string, text: string) => appendFileSync(join(dir, 'metrics.jsonl'), text);
