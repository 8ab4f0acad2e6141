// torch.load for the legacy format (torch.save(..., _use_new_zipfile_serialization=False)):
// pickles of the magic number, protocol version and sys_info, then the main pickle, then a pickle
// of storage keys, then each storage as int64 element count + raw little-endian bytes.
import { constants as bufferConstants } from 'node:buffer';
import { CheckpointError } from '../../errors.ts';
import { DTYPE_BYTES } from '../../tensor/dtype.ts';
import { type FileSource, printable } from '../file.ts';
import type { PyValue } from '../py.ts';
import { GlobalRef } from './globals.ts';
import { AllocBudget, resolveLimits } from './limits.ts';
import { unpickle } from './pickle.ts';
import { checkTree, type LoadContext, StorageRef, TensorBuilder } from './storage.ts';
import type { ReadPthOptions } from './torch_load.ts';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

/** Reads a legacy-format .pth (the whole file is read once; each storage is copied out of it). */
export function readPthLegacy(src: FileSource, opts: ReadPthOptions = {}): PyValue {
  const file = src.path;
  if (src.size > bufferConstants.MAX_LENGTH) {
    throw new CheckpointError(file, `legacy-format file of ${src.size} bytes is too large to read`);
  }
  const bytes = src.read(0, src.size, 'legacy checkpoint');
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(file, reason, hint);
  };
  const tensors = new TensorBuilder(fail, opts.maxExpandBytes);
  const ctx: LoadContext = { fail, rebuildTensor: (s, o, sz, st, f) => tensors.rebuild(s, o, sz, st, f) };

  // one budget for the file's pickles; the storages that follow them make up most real files
  const budget = new AllocBudget(resolveLimits(bytes.length, opts), fail);
  let pos = 0;
  const next = (where: string, persistentLoad?: (pid: unknown, c: LoadContext) => unknown): unknown => {
    const r = unpickle(bytes, pos, { file, where, ctx, persistentLoad, budget });
    pos = r.end;
    return r.value;
  };
  if (next('magic number') !== LEGACY_MAGIC) fail('not a legacy torch checkpoint (bad magic number)');
  const proto = next('protocol version');
  if (proto !== PROTOCOL_VERSION) fail(`unsupported legacy protocol version ${String(proto)}`);
  const sysInfo = next('sys_info');
  if (!(sysInfo instanceof Map) || sysInfo.get('little_endian') !== true) {
    fail('legacy checkpoint was not written on a little-endian machine');
  }

  const roots = new Map<string, StorageRef>();
  const views = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown, c: LoadContext): unknown => {
    if (!Array.isArray(pid) || pid.length < 1) return c.fail('persistent id is not a tuple');
    if (pid[0] === 'module') {
      c.fail(
        'checkpoint pickles a whole nn.Module class',
        'graft loads state dicts: in PyTorch, torch.save(model.state_dict(), path)',
      );
    }
    // ('storage', storage_type, root_key, location, numel, view_metadata)
    if (pid[0] !== 'storage' || pid.length !== 6) c.fail('persistent id is not a storage tuple');
    const [, type, key, location, numel, viewMeta] = pid as unknown[];
    if (!(type instanceof GlobalRef) || !type.storageDtype) return c.fail('persistent id names no storage type');
    if (type.storageQdtype)
      c.fail(
        'quantized tensors in the legacy (pre-1.6) format are not supported',
        're-save with torch.save of torch >= 1.6',
      );
    const dtype = type.storageDtype;
    if (typeof key !== 'string' || typeof location !== 'string') c.fail('storage key or location is not a string');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) c.fail('invalid storage size');
    const k = key as string;
    let root = roots.get(k);
    if (!root) {
      root = new StorageRef(k, dtype, numel as number);
      if (root.nbytes > src.size)
        c.fail(`storage ${printable(k)} declares ${root.nbytes} bytes, more than the file holds`);
      roots.set(k, root);
    } else if (root.dtype !== dtype || root.numel !== numel) {
      c.fail(`storage ${printable(k)} is referenced with different types`);
    }
    if (viewMeta === null) return root;
    // (view_key, offset, view_size): a slice of the root written by old PyTorch versions
    if (!Array.isArray(viewMeta) || viewMeta.length !== 3) return c.fail('invalid storage view metadata');
    const [vkey, off, size] = viewMeta as unknown[];
    if (typeof vkey !== 'string') return c.fail('storage view key is not a string');
    const have = views.get(vkey);
    if (have) return have;
    for (const x of [off, size]) {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) c.fail('invalid storage view bounds');
    }
    if ((off as number) + (size as number) > root.numel)
      c.fail(`storage view ${printable(vkey)} reaches past storage ${printable(k)}`);
    const view = new StorageRef(vkey, dtype, size as number, { storage: root, offset: off as number });
    views.set(vkey, view);
    return view;
  };
  const value = next('main pickle', persistentLoad);

  const keys = next('storage keys');
  if (!Array.isArray(keys)) fail('storage key list is not a list');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys as unknown[]) {
    const root = typeof key === 'string' ? roots.get(key) : undefined;
    if (!root) return fail(`storage key ${printable(String(key))} is not referenced by the pickle`);
    if (root.bytes) fail(`storage ${printable(root.key)} is listed twice`);
    if (pos + 8 > bytes.length) fail(`truncated: storage ${printable(root.key)} header at byte ${pos}`);
    const count = view.getBigInt64(pos, true);
    if (count !== BigInt(root.numel)) {
      fail(`storage ${printable(root.key)}: the file holds ${count} elements, the pickle declares ${root.numel}`);
    }
    pos += 8;
    const n = root.numel * DTYPE_BYTES[root.dtype];
    if (pos + n > bytes.length) fail(`truncated: storage ${printable(root.key)} needs bytes [${pos}, ${pos + n})`);
    root.bytes = bytes.slice(pos, pos + n); // own buffer: element-aligned, and the file buffer can go
    pos += n;
  }
  tensors.resolve();
  return checkTree(value, file, budget.limits);
}
