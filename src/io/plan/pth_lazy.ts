// torch.load of a zip-format .pth without reading tensor data: the object tree with TensorRef leaves
// that point at their storage entries. The same restricted unpickler and checks as readPth; the
// bytes of a tensor are read (and CRC-checked) only when a load plan takes it.
import { CheckpointError } from '../../errors.ts';
import { type FileSource, printable } from '../file.ts';
import { GlobalRef } from '../pth/globals.ts';
import { AllocBudget, resolveLimits } from '../pth/limits.ts';
import { unpickle } from '../pth/pickle.ts';
import { checkTree, type LoadContext, StorageRef } from '../pth/storage.ts';
import type { ReadPthOptions } from '../pth/torch_load.ts';
import { readZipDirectory, readZipEntry, type ZipEntry } from '../pth/zip.ts';
import { checkView, isContiguous } from '../raw.ts';
import { TensorRef } from './tree.ts';

function intList(x: unknown, what: string, fail: (r: string) => never): number[] {
  if (!Array.isArray(x)) fail(`tensor ${what} is not a tuple`);
  const out: number[] = [];
  for (const v of x as unknown[]) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`invalid tensor ${what} entry ${String(v)}`);
    out.push(v as number);
  }
  return out;
}

/** The unpickled tree of a zip .pth with TensorRef leaves (only data.pkl is read); readPth's limits apply. */
export function readPthZipRefs(src: FileSource, opts: ReadPthOptions = {}): unknown {
  const file = src.path;
  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(file, reason, hint);
  };
  const entries = readZipDirectory(src);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    fail(
      pkls.length ? 'zip archive has several data.pkl entries' : 'zip archive has no <archive>/data.pkl',
      pkls.length ? undefined : 'is this a TorchScript archive? save a state dict with torch.save instead',
    );
  }
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  if (entries.has(`${prefix}constants.pkl`))
    fail('this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint');
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(readZipEntry(src, order)).trim() !== 'little')
    fail('only little-endian checkpoints are supported');

  const storages = new Map<string, { ref: StorageRef; entry: ZipEntry }>();
  const persistentLoad = (pid: unknown, ctx: LoadContext): StorageRef => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage')
      ctx.fail('persistent id is not a (storage, type, key, location, numel) tuple');
    const [, type, key, , numel] = pid as unknown[];
    if (!(type instanceof GlobalRef) || !type.storageDtype) return ctx.fail('persistent id names no storage type');
    if (typeof key !== 'string') return ctx.fail('storage key is not a string');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) return ctx.fail('invalid storage size');
    const have = storages.get(key);
    if (have) {
      if (have.ref.dtype !== type.storageDtype || have.ref.qdtype !== type.storageQdtype || have.ref.numel !== numel)
        ctx.fail(`storage ${printable(key)} is referenced with different types`);
      return have.ref;
    }
    const entry = entries.get(`${prefix}data/${key}`);
    if (!entry) return ctx.fail(`storage ${printable(key)} has no entry ${printable(`${prefix}data/${key}`)}`);
    if (entry.method !== 0 || entry.encrypted) ctx.fail(`storage ${printable(key)} is compressed or encrypted`);
    const ref = new StorageRef(key, type.storageDtype, numel, null, type.storageQdtype);
    if (entry.size !== ref.nbytes)
      ctx.fail(
        `storage ${printable(key)}: ${numel} x ${ref.dtype} needs ${ref.nbytes} bytes, the entry has ${entry.size}`,
      );
    storages.set(key, { ref, entry });
    return ref;
  };
  const rebuildTensor: LoadContext['rebuildTensor'] = (storage, offset, size, stride, f = fail) => {
    if (!(storage instanceof StorageRef)) return f('tensor rebuilt from something that is not a storage');
    const shape = intList(size, 'size', f);
    const strides = intList(stride, 'stride', f);
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
      return f(`invalid storage offset ${String(offset)}`);
    const bad = checkView({ dtype: storage.dtype, shape, stride: strides, offset }, storage.nbytes);
    if (bad) f(bad);
    const { entry } = storages.get(storage.key)!;
    const plain = offset === 0 && isContiguous(shape, strides) && shape.reduce((a, b) => a * b, 1) === storage.numel;
    const view = plain ? undefined : { offset, stride: strides };
    return new TensorRef(
      storage.dtype,
      shape,
      file,
      entry.dataOffset,
      entry.dataOffset + entry.size,
      view,
      entry.crc32,
    );
  };
  const ctx: LoadContext = { fail, rebuildTensor };
  const pkl = readZipEntry(src, entries.get(pkls[0]!)!);
  const budget = new AllocBudget(resolveLimits(pkl.length, opts), fail);
  const { value } = unpickle(pkl, 0, { file, where: pkls[0]!, ctx, persistentLoad, budget });
  return checkTree(value, file, { ...budget.limits, isLeaf: (v) => v instanceof TensorRef });
}
