// torch.load for the zip format (PyTorch >= 1.6): data.pkl + data/<key> storages, restricted unpickling.
import { CheckpointError } from '../../errors.ts';
import { DTYPE_BYTES } from '../../tensor/dtype.ts';
import { type FileSource, printable } from '../file.ts';
import type { PyValue } from '../py.ts';
import { GlobalRef } from './globals.ts';
import { AllocBudget, type PickleLimits, resolveLimits } from './limits.ts';
import { unpickle } from './pickle.ts';
import { checkTree, type LoadContext, StorageRef, TensorBuilder } from './storage.ts';
import { readZipDirectory, readZipEntry, type ZipEntry } from './zip.ts';

export interface ReadPthOptions extends PickleLimits {
  /** Check CRC-32 of every entry read (default true; zlib's native crc32 is fast). */
  verifyCrc?: boolean;
  /**
   * A tensor whose elements outnumber its storage's (zero strides, as torch.expand makes) is
   * materialised only up to this many bytes (default 256 MiB), so a tiny file cannot demand gigabytes.
   */
  maxExpandBytes?: number;
}

/** Reads a zip-format .pth: the unpickled object tree with RawTensor leaves. */
export function readPthZip(src: FileSource, opts: ReadPthOptions = {}): PyValue {
  const file = src.path;
  const entries = readZipDirectory(src);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length === 0) {
    const ts = [...entries.keys()].some((n) => /\/(constants\.pkl|code\/)/.test(n));
    throw new CheckpointError(
      file,
      'zip archive has no <archive>/data.pkl',
      ts
        ? 'this looks like a TorchScript archive (torch.jit.save); save a state dict with torch.save instead'
        : undefined,
    );
  }
  if (pkls.length > 1)
    throw new CheckpointError(file, `zip archive has several data.pkl entries: ${printable(pkls.join(', '))}`);
  const prefix = pkls[0]!.slice(0, -'data.pkl'.length);
  if (entries.has(`${prefix}constants.pkl`)) {
    throw new CheckpointError(
      file,
      'this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint',
      'in PyTorch, torch.save(torch.jit.load(path).state_dict(), "weights.pth")',
    );
  }
  const verify = opts.verifyCrc ?? true;
  const text = (e: ZipEntry | undefined) => (e ? new TextDecoder().decode(readZipEntry(src, e, verify)).trim() : null);

  const byteorder = text(entries.get(`${prefix}byteorder`));
  if (byteorder !== null && byteorder !== 'little') {
    throw new CheckpointError(
      file,
      `byteorder is ${JSON.stringify(byteorder.slice(0, 20))}; only little-endian is supported`,
    );
  }
  const version = text(entries.get(`${prefix}version`)) ?? text(entries.get(`${prefix}.data/version`));
  if (version !== null && !/^\d{1,3}$/.test(version)) {
    throw new CheckpointError(file, `unreadable format version ${JSON.stringify(version.slice(0, 20))}`);
  }

  const fail = (reason: string, hint?: string): never => {
    throw new CheckpointError(file, reason, hint);
  };
  const tensors = new TensorBuilder(fail, opts.maxExpandBytes);
  const storages = new Map<string, StorageRef>();
  const persistentLoad = (pid: unknown, ctx: LoadContext): StorageRef => {
    // ('storage', storage_type, key, location, numel)
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      ctx.fail('persistent id is not a (storage, type, key, location, numel) tuple');
    }
    const [, type, key, location, numel] = pid as unknown[];
    if (!(type instanceof GlobalRef) || !type.storageDtype) ctx.fail('persistent id names no storage type');
    const dtype = (type as GlobalRef).storageDtype!;
    const qdtype = (type as GlobalRef).storageQdtype;
    if (typeof key !== 'string' || typeof location !== 'string') ctx.fail('storage key or location is not a string');
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) ctx.fail('invalid storage size');
    const k = key as string;
    const have = storages.get(k);
    if (have) {
      if (have.dtype !== dtype || have.qdtype !== qdtype || have.numel !== numel)
        ctx.fail(`storage ${printable(k)} is referenced with different types`);
      return have;
    }
    const entry = entries.get(`${prefix}data/${k}`);
    if (!entry) return ctx.fail(`storage ${printable(k)} has no entry ${printable(`${prefix}data/${k}`)}`);
    const nbytes = (numel as number) * DTYPE_BYTES[dtype];
    if (entry.size !== nbytes) {
      ctx.fail(`storage ${printable(k)}: ${numel} x ${dtype} needs ${nbytes} bytes, the entry has ${entry.size}`);
    }
    const ref = new StorageRef(k, dtype, numel as number, null, qdtype);
    ref.bytes = readZipEntry(src, entry, verify);
    storages.set(k, ref);
    return ref;
  };
  const ctx: LoadContext = { fail, rebuildTensor: (s, o, sz, st, f) => tensors.rebuild(s, o, sz, st, f) };
  const pkl = readZipEntry(src, entries.get(pkls[0]!)!, verify);
  const budget = new AllocBudget(resolveLimits(pkl.length, opts), fail);
  const { value } = unpickle(pkl, 0, { file, where: pkls[0]!, ctx, persistentLoad, budget });
  tensors.resolve();
  return checkTree(value, file, budget.limits);
}
