// Small real checkpoints for the hub tests: a seeded cifar_net's state dict as torch.save would
// write it (.pth, graft's own writer) or as safetensors (whole, or sharded with an index).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RawTensor, writePth, writeSafetensors } from '../../src/io/index.ts';
import { tensorToRaw } from '../../src/io/tensors.ts';
import * as models from '../../src/models/index.ts';
import { manualSeed } from '../../src/tensor/index.ts';

export function cifarState(seed: number): Map<string, RawTensor> {
  manualSeed(seed);
  const net = models.create('cifar_net');
  const sd = new Map<string, RawTensor>();
  for (const [k, t] of net.stateDict()) sd.set(k, tensorToRaw(t));
  net.dispose();
  return sd;
}

function bytesOf(write: (file: string) => void): Buffer {
  const d = mkdtempSync(join(tmpdir(), 'graft-hubw-'));
  try {
    const f = join(d, 'f');
    write(f);
    return readFileSync(f);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

export const pthBytes = (sd: Map<string, RawTensor>): Buffer => bytesOf((f) => writePth(f, sd as never));
export const safetensorsBytes = (sd: Map<string, RawTensor>): Buffer =>
  bytesOf((f) => writeSafetensors(f, sd, { format: 'pt' }));

/** Two shards and their model.safetensors.index.json, as transformers' save_pretrained writes them. */
export function shardedFiles(sd: Map<string, RawTensor>): Record<string, Buffer> {
  const keys = [...sd.keys()];
  const half = Math.ceil(keys.length / 2);
  const names = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const parts = [keys.slice(0, half), keys.slice(half)];
  const out: Record<string, Buffer> = {};
  const weightMap: Record<string, string> = {};
  parts.forEach((ks, i) => {
    out[names[i]!] = safetensorsBytes(new Map(ks.map((k) => [k, sd.get(k)!])));
    for (const k of ks) weightMap[k] = names[i]!;
  });
  const total = Object.values(out).reduce((a, b) => a + b.length, 0);
  out['model.safetensors.index.json'] = Buffer.from(
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2),
  );
  return out;
}
