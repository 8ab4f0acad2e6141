// torch.save's zip format, written so torch.load (1.13 and 2.x) opens it.
import { ArgumentError } from '../../errors.ts';
import { DTYPE_BYTES, type DType } from '../../tensor/dtype.ts';
import { writeAtomic } from '../file.ts';
import { type PyInput, PyObject } from '../py.ts';
import { checkRawTensor, isRawTensor, type RawTensor } from '../raw.ts';
import { Pickler } from './pickle_write.ts';
import { isQuantizedRaw, type QDtypeName, qstorageClass, writeQtensor } from './qtensor.ts';
import { ZipWriter } from './zip.ts';

export interface WritePthOptions {
  /** Top-level folder inside the zip (torch uses the file name's stem or 'archive'). */
  archiveName?: string;
  /** Write ZIP64 fields even for small files (tests the path large checkpoints take). */
  forceZip64?: boolean;
}

const STORAGE_CLASS: Record<DType, string> = {
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  bfloat16: 'BFloat16Storage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int16: 'ShortStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
};

interface Storage {
  dtype: DType;
  /** a quantized tensor's storage (torch.QInt8Storage...): never shared with plain tensors */
  qdtype?: QDtypeName;
  bytes: Uint8Array;
  key?: string;
}

interface Placement {
  storage: Storage;
  offset: number;
}

/**
 * Writes obj as a torch.save zip checkpoint (atomically: a temp file renamed into place).
 * Tensors whose bytes overlap or touch in one ArrayBuffer (as read from a file where they
 * shared a storage) are written as views of one storage, the way PyTorch saved them.
 */
export function writePth(path: string, obj: PyInput, opts: WritePthOptions = {}): void {
  const archive = opts.archiveName ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) throw new ArgumentError(`invalid archive name ${JSON.stringify(archive)}`);
  const placements = planStorages(collectTensors(obj));
  const storages: Storage[] = [];
  const pickler = new Pickler((p, t, at) => {
    const place = placements.get(t);
    if (!place) throw new ArgumentError(`${at}: tensor was not found while planning storages`);
    const s = place.storage;
    if (s.key === undefined) {
      s.key = String(storages.length);
      storages.push(s);
    }
    const persistentId = () => {
      p.mark();
      p.str('storage');
      p.global('torch', s.qdtype ? qstorageClass(s.qdtype) : STORAGE_CLASS[s.dtype]);
      p.str(s.key!);
      p.str('cpu');
      p.int(s.bytes.byteLength / DTYPE_BYTES[s.dtype]);
      p.tuple(5);
      p.byte(0x51); // BINPERSID
    };
    if (isQuantizedRaw(t)) {
      writeQtensor(p, t, at, persistentId, place.offset, (xs) => intTuple(p, xs), contiguous(t.shape));
      return;
    }
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.mark();
    persistentId();
    p.int(place.offset);
    intTuple(p, t.shape);
    intTuple(p, contiguous(t.shape));
    p.byte(0x89); // requires_grad=False
    p.global('collections', 'OrderedDict');
    p.byte(0x29, 0x52); // OrderedDict(): backward hooks
    p.tuple(6);
    p.byte(0x52); // REDUCE
  });
  const pkl = pickler.dump(obj);
  writeAtomic(path, (sink) => {
    const zip = new ZipWriter(sink, opts.forceZip64);
    zip.add(`${archive}/data.pkl`, [pkl]);
    zip.add(`${archive}/byteorder`, [new TextEncoder().encode('little')]);
    const keyed = storages.map((s) => [s.key!, s] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [key, s] of keyed) zip.add(`${archive}/data/${key}`, [s.bytes]);
    zip.add(`${archive}/version`, [new TextEncoder().encode('3\n')]);
    zip.finish();
  });
}

function intTuple(p: Pickler, xs: readonly number[]): void {
  if (xs.length > 3) p.mark();
  for (const x of xs) p.int(x);
  p.tuple(xs.length);
}

function contiguous(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Every distinct RawTensor in obj, checked. */
function collectTensors(obj: PyInput): RawTensor[] {
  const out: RawTensor[] = [];
  const seen = new Set<object>();
  const stack: { v: unknown; path: string }[] = [{ v: obj, path: 'value' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) continue;
    seen.add(v);
    if (isRawTensor(v)) {
      checkRawTensor(v, path);
      out.push(v);
      // a per-channel quantizer's scales and zero points are tensors too
      if (isQuantizedRaw(v) && v.quantizer.scheme === 'per_channel_affine')
        stack.push({ v: [v.quantizer.scales, v.quantizer.zeroPoints], path: `${path}.quantizer` });
    } else if (v instanceof Map) {
      for (const [k, x] of v) stack.push({ v: x, path: `${path}.${String(k)}` });
      if ('attributes' in v && v.attributes instanceof Map) stack.push({ v: v.attributes, path });
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}[${i}]` });
    } else if (v instanceof PyObject) {
      stack.push({ v: v.attributes, path });
    } else if (!(v instanceof Set)) {
      for (const [k, x] of Object.entries(v)) stack.push({ v: x, path: `${path}.${k}` });
    }
  }
  return out;
}

/** Groups tensors whose bytes overlap or touch in one buffer (same dtype, aligned) into shared storages. */
function planStorages(tensors: RawTensor[]): Map<RawTensor, Placement> {
  const out = new Map<RawTensor, Placement>();
  // grouped by buffer, then by element type: a dtype, or q:<qdtype> for quantized tensors
  const groups = new Map<ArrayBufferLike, Map<string, RawTensor[]>>();
  const typeOf = (t: RawTensor): string => (isQuantizedRaw(t) ? `q:${t.qdtype}` : t.dtype);
  for (const t of tensors) {
    if (t.data.byteLength === 0) {
      const qdtype = isQuantizedRaw(t) ? t.qdtype : undefined;
      out.set(t, { storage: { dtype: t.dtype, bytes: t.data, ...(qdtype ? { qdtype } : {}) }, offset: 0 });
      continue;
    }
    let byType = groups.get(t.data.buffer);
    if (!byType) {
      byType = new Map();
      groups.set(t.data.buffer, byType);
    }
    const list = byType.get(typeOf(t)) ?? [];
    list.push(t);
    byType.set(typeOf(t), list);
  }
  for (const byType of groups.values()) {
    for (const list of byType.values()) {
      const first = list[0]!;
      const dtype = first.dtype;
      const qdtype = isQuantizedRaw(first) ? first.qdtype : undefined;
      const item = DTYPE_BYTES[dtype];
      list.sort((a, b) => a.data.byteOffset - b.data.byteOffset || b.data.byteLength - a.data.byteLength);
      let cur: { start: number; end: number; members: RawTensor[] } | null = null;
      const close = () => {
        if (!cur) return;
        const buf = cur.members[0]!.data;
        const bytes = new Uint8Array(buf.buffer, cur.start, cur.end - cur.start);
        const storage: Storage = { dtype, bytes, ...(qdtype ? { qdtype } : {}) };
        for (const m of cur.members) out.set(m, { storage, offset: (m.data.byteOffset - cur.start) / item });
      };
      for (const t of list) {
        const s = t.data.byteOffset;
        const e = s + t.data.byteLength;
        if (cur && s <= cur.end && (s - cur.start) % item === 0) {
          cur.members.push(t);
          cur.end = Math.max(cur.end, e);
        } else {
          close();
          cur = { start: s, end: e, members: [t] };
        }
      }
      close();
    }
  }
  return out;
}
