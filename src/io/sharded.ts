// Hugging Face sharded checkpoints: model.safetensors.index.json maps each tensor to its shard file.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import { printable } from './file.ts';
import type { RawTensor } from './raw.ts';
import { readSafetensors } from './safetensors.ts';

export interface ShardedSafetensors {
  /** Shard by shard (in order of first mention in weight_map), each in file order. */
  tensors: Map<string, RawTensor>;
  /** The index's `metadata` object (e.g. total_size), or null. */
  metadata: Record<string, unknown> | null;
  /** Shard file names, relative to the index. */
  shards: string[];
}

/**
 * Groups an index's weight_map by shard file. Shard names come from the file: none may point
 * outside the index's folder.
 */
export function shardsOfWeightMap(
  wm: Record<string, unknown>,
  fail: (reason: string) => never,
): Map<string, Set<string>> {
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(wm)) {
    if (typeof shard !== 'string') return fail(`weight_map.${printable(name)} is not a file name`);
    if (
      shard === '' ||
      isAbsolute(shard) ||
      shard.includes('\\') ||
      shard.includes('\0') ||
      shard.split('/').includes('..')
    )
      fail(`weight_map.${printable(name)} names an unsafe shard path ${JSON.stringify(shard)}`);
    const set = byShard.get(shard) ?? new Set<string>();
    set.add(name);
    byShard.set(shard, set);
  }
  return byShard;
}

/** Reads every shard an index names; the index and the shards must agree exactly. */
export function readShardedSafetensors(indexPath: string): ShardedSafetensors {
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(indexPath, reason, hint);
  };
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    fail(`cannot read the shard index: ${(e as Error).message}`);
  }
  if (typeof index !== 'object' || index === null || Array.isArray(index))
    return fail('shard index is not a JSON object');
  const { weight_map: wm, metadata } = index as Record<string, unknown>;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) return fail('shard index has no weight_map object');
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
    fail('shard index metadata is not an object');
  }
  const byShard = shardsOfWeightMap(wm as Record<string, unknown>, fail);
  const tensors = new Map<string, RawTensor>();
  const dir = dirname(indexPath);
  for (const [shard, names] of byShard) {
    const file = readSafetensors(join(dir, shard));
    for (const [name, t] of file.tensors) {
      if (!names.has(name))
        fail(`shard ${printable(shard)} holds ${printable(name)}, which weight_map does not assign to it`);
      tensors.set(name, t);
    }
    for (const name of names)
      if (!file.tensors.has(name)) fail(`weight_map puts ${printable(name)} in ${printable(shard)}, which lacks it`);
  }
  return {
    tensors,
    metadata: metadata === undefined ? null : Object.fromEntries(Object.entries(metadata as object)),
    shards: [...byShard.keys()],
  };
}
