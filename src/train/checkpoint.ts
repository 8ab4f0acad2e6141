// Training checkpoints: one torch.save-compatible .pth (src/io's writePth, written atomically: a
// temp file, fsync, rename), so `torch.load(path)` opens it and a crash never leaves half a file:
//   {model: state_dict, optimizer: optimizer.state_dict(), scheduler, runner, scaler,
//    epoch, batch, step, rng: {seed, epoch, batch}, metrics, trainer, callbacks, graft: {format, version}}
// `epoch`/`batch` are where training continues (0-based; batch 0 = at an epoch's start).
import {
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.ts';
import { isRawTensor, type PyInput, type PyValue, plainTree, type RawTensor, readPth, writePth } from '../io/index.ts';
import { rawToTensor, tensorToRaw } from '../io/tensors.ts';
import { Tensor } from '../tensor/index.ts';
import { type FaultPoint, faultArmed, faultHalfWritten, pauseSync, slowWriteMs } from './faults.ts';

export const CHECKPOINT_FORMAT = 'graft-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** Writes a checkpoint tree; replaceable so tests can fail a write half-way. */
export type CheckpointWriter = (path: string, tree: PyInput) => void;
export const defaultWriter: CheckpointWriter = (path, tree) => writePth(path, tree);

/**
 * Tensors become RawTensor records (CPU bytes); Maps, arrays, tuples and plain objects keep their
 * shape. A tensor met twice (the optimizer's state inside a phase runner's state too) is one record,
 * so writePth stores its bytes once.
 */
export function toPy(v: unknown, memo = new Map<Tensor, RawTensor>()): PyInput {
  if (v instanceof Tensor) {
    let r = memo.get(v);
    if (!r) {
      r = tensorToRaw(v);
      memo.set(v, r);
    }
    return r;
  }
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return null;
  if (v === null || typeof v !== 'object') return v as PyInput;
  if (isRawTensor(v) || v instanceof Uint8Array) return v as PyInput;
  if (Array.isArray(v)) {
    const out = v.map((x) => toPy(x, memo));
    return Object.isFrozen(v) ? Object.freeze(out) : out;
  }
  if (v instanceof Map) {
    const out = new Map<never, PyInput>();
    for (const [k, x] of v) out.set(k as never, toPy(x, memo));
    return out;
  }
  const out: Record<string, PyInput> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined && typeof x !== 'function') out[k] = toPy(x, memo);
  return out;
}

/**
 * A loaded tree as plain JS: dicts with string keys become objects, other dicts stay Maps
 * (an optimizer's `state` is keyed by ints), tuples become arrays, tensors stay RawTensors.
 * io's plainTree: iterative and memoized, so shared structure in a file cannot blow it up.
 */
export function fromPy(v: PyValue | undefined): any {
  return plainTree(v);
}

/** A loaded model state dict (RawTensor records) as tensors for Module.loadStateDict. */
export function stateDictTensors(raw: unknown, file: string): Map<string, Tensor> {
  if (!(raw instanceof Map) && (raw === null || typeof raw !== 'object'))
    throw new CheckpointError(file, "the checkpoint has no 'model' state dict");
  const entries = raw instanceof Map ? [...raw.entries()] : Object.entries(raw);
  const out = new Map<string, Tensor>();
  for (const [k, t] of entries) {
    if (!isRawTensor(t)) throw new CheckpointError(file, `model.${String(k)} is not a tensor`);
    out.set(String(k), rawToTensor(t as RawTensor));
  }
  return out;
}

export interface LoadedCheckpoint {
  path: string;
  /** the whole tree, strings-keyed dicts as objects (see fromPy) */
  tree: Record<string, any>;
  /** the tree as read (Maps), for optimizer.loadStateDict */
  raw: Map<string, PyValue>;
}

/** Reads and checks a graft checkpoint. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path))
    throw new CheckpointError(path, 'no such checkpoint', 'check the path, or start without resume');
  const raw = readPth(path);
  if (!(raw instanceof Map))
    throw new CheckpointError(path, 'not a graft training checkpoint (top level is not a dict)');
  const tree = fromPy(raw) as Record<string, any>;
  const g = tree.graft as Record<string, unknown> | undefined;
  if (!g || g.format !== CHECKPOINT_FORMAT)
    throw new CheckpointError(
      path,
      'not a graft training checkpoint (no graft.format entry)',
      'to start from model weights only, load them into the model and train without resume',
    );
  if (Number(g.version) > CHECKPOINT_VERSION)
    throw new CheckpointError(
      path,
      `checkpoint format version ${g.version} is newer than this graft's (${CHECKPOINT_VERSION})`,
    );
  for (const k of ['model', 'optimizer', 'epoch', 'batch', 'step'])
    if (!(k in tree)) throw new CheckpointError(path, `checkpoint has no '${k}' entry`);
  return { path, tree, raw: raw as Map<string, PyValue> };
}

/** Writes a checkpoint tree atomically; returns the path. */
export function writeCheckpoint(path: string, tree: Record<string, unknown>, writer = defaultWriter): string {
  const full = { ...tree, graft: { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, time: Date.now() / 1000 } };
  if (faultArmed('checkpoint-write') || slowWriteMs() > 0) {
    // the test drills' path: the whole file to the temp name, maybe cut or held there, then the rename
    const tmp = `${path}.tmp-${process.pid}`;
    writer(tmp, toPy(full));
    faultHalfWritten('checkpoint-write', tmp);
    pauseSync(slowWriteMs());
    renameSync(tmp, path);
    return path;
  }
  writer(path, toPy(full));
  return path;
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies a finished checkpoint to another name atomically (best.pth, epoch-0003.pth): a temp copy,
 * fsync, rename. `fault` names the test drill's kill point for this copy (see faults.ts).
 */
export function copyCheckpoint(from: string, to: string, fault?: FaultPoint): void {
  const tmp = `${to}.tmp-${process.pid}`;
  try {
    copyFileSync(from, tmp);
    if (fault) faultHalfWritten(fault, tmp);
    fsyncFile(tmp);
    renameSync(tmp, to);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // not created
    }
    throw new CheckpointError(to, `cannot copy ${from}: ${(e as Error).message}`);
  }
}

/** Whether two files hold the same bytes (a copy that is whole and current). */
export function sameBytes(a: string, b: string): boolean {
  const sa = statSync(a, { throwIfNoEntry: false });
  const sb = statSync(b, { throwIfNoEntry: false });
  if (!sa || !sb || sa.size !== sb.size) return false;
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const ba = Buffer.allocUnsafe(1 << 20);
    const bb = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; pos < sa.size; ) {
      const n = readSync(fa, ba, 0, ba.length, pos);
      const m = readSync(fb, bb, 0, bb.length, pos);
      if (n !== m || n === 0 || ba.compare(bb, 0, m, 0, n) !== 0) return false;
      pos += n;
    }
    return true;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

/** Removes temp files that a killed writer left beside checkpoints (never a finished checkpoint). */
export function removeStaleTemps(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const gone: string[] = [];
  for (const n of readdirSync(dir))
    if (/\.tmp-\d+$/.test(n)) {
      try {
        unlinkSync(join(dir, n));
        gone.push(n);
      } catch {
        // another process's, or already gone
      }
    }
  return gone;
}

/** The checkpoint to resume from: a file, or a run / checkpoint folder holding last.pth. */
export function resolveResume(p: string): string {
  if (p.endsWith('.pth')) return p;
  for (const c of [join(p, 'checkpoints', 'last.pth'), join(p, 'last.pth')]) if (existsSync(c)) return c;
  throw new CheckpointError(p, 'no checkpoint to resume from (looked for checkpoints/last.pth and last.pth)');
}

export const checkpointName = (dir: string, epoch: number): string =>
  join(dir, `epoch-${String(epoch).padStart(4, '0')}.pth`);
