// Quantized tensors in torch.save files. torch pickles one as
//   torch._utils._rebuild_qtensor(storage, offset, size, stride, quantizer, requires_grad, hooks)
// over a torch.QInt8Storage / QUInt8Storage / QInt32Storage, the quantizer being
//   (torch.per_tensor_affine, scale: float, zero_point: int) or
//   (torch.per_channel_affine, scales: float64[C], zero_points: int64[C], axis: int).
// graft reads it as a RawTensor of the integers (int8 / uint8 / int32) with its quantized dtype and
// quantizer attached, and writes such a record back the same way.
import type { DType } from '../../tensor/dtype.ts';
import { isRawTensor, type RawTensor } from '../raw.ts';
import { GlobalRef } from './globals.ts';
import type { Pickler } from './pickle_write.ts';
import { StorageRef, type VmContext } from './storage.ts';

export type QDtypeName = 'qint8' | 'quint8' | 'qint32';

export type Quantizer =
  | { scheme: 'per_tensor_affine'; scale: number; zeroPoint: number }
  | { scheme: 'per_channel_affine'; scales: RawTensor; zeroPoints: RawTensor; axis: number };

/** A quantized tensor as bytes: `dtype`/`data` hold the integers, `qdtype` and `quantizer` their meaning. */
export interface QuantizedRawTensor extends RawTensor {
  qdtype: QDtypeName;
  quantizer: Quantizer;
}

/** The integer dtype that holds each quantized dtype's values. */
export const QDTYPE_INT: Record<QDtypeName, DType> = { qint8: 'int8', quint8: 'uint8', qint32: 'int32' };
const ZP_RANGE: Record<QDtypeName, [number, number]> = {
  qint8: [-128, 127],
  quint8: [0, 255],
  qint32: [-(2 ** 31), 2 ** 31 - 1],
};
const STORAGE_CLASS: Record<QDtypeName, string> = {
  qint8: 'QInt8Storage',
  quint8: 'QUInt8Storage',
  qint32: 'QInt32Storage',
};
export const qstorageClass = (q: QDtypeName): string => STORAGE_CLASS[q];

export function isQuantizedRaw(x: unknown): x is QuantizedRawTensor {
  return isRawTensor(x) && 'quantizer' in x && 'qdtype' in x;
}

/** Plain tensor rebuilds refuse quantized storages: their bytes mean nothing without a quantizer. */
export function noQuantizedStorage(storage: unknown, what: string, ctx: VmContext): void {
  if (storage instanceof StorageRef && storage.qdtype)
    ctx.fail(`${what} over a quantized storage (${storage.qdtype}) without a quantizer`);
}

/** torch._utils._rebuild_qtensor: the integers as a RawTensor with qdtype and quantizer. */
export function rebuildQtensor(args: readonly unknown[], ctx: VmContext): QuantizedRawTensor {
  if (args.length !== 7) ctx.fail(`_rebuild_qtensor called with ${args.length} arguments`);
  const [storage, offset, size, stride, qp, requiresGrad] = args;
  if (!(storage instanceof StorageRef) || !storage.qdtype)
    ctx.fail(
      '_rebuild_qtensor over a storage that is not quantized',
      'quantized tensors live in torch.QInt8Storage, QUInt8Storage or QInt32Storage',
    );
  if (typeof requiresGrad !== 'boolean') ctx.fail('_rebuild_qtensor: requires_grad is not a bool');
  const qdtype = storage.qdtype;
  const t = ctx.rebuildTensor(storage, offset, size, stride);
  const quantizer = parseQuantizer(qp, t.shape, qdtype, ctx);
  return Object.assign(t, { qdtype, quantizer });
}

function parseQuantizer(qp: unknown, shape: readonly number[], qdtype: QDtypeName, ctx: VmContext): Quantizer {
  if (!Array.isArray(qp) || qp.length === 0) ctx.fail('_rebuild_qtensor: the quantizer is not a tuple');
  const [scheme, ...rest] = qp as unknown[];
  const name = scheme instanceof GlobalRef ? scheme.name : typeof scheme;
  if (name === 'torch.per_tensor_affine') {
    const [scale, zeroPoint] = rest;
    if (rest.length !== 2) ctx.fail('per_tensor_affine quantizer is not (scheme, scale, zero_point)');
    checkScale(scale, ctx);
    checkZeroPoint(zeroPoint, qdtype, ctx);
    return { scheme: 'per_tensor_affine', scale: scale as number, zeroPoint: zeroPoint as number };
  }
  if (name === 'torch.per_channel_affine') {
    const [scales, zeroPoints, axis] = rest;
    if (rest.length !== 3) ctx.fail('per_channel_affine quantizer is not (scheme, scales, zero_points, axis)');
    if (typeof axis !== 'number' || !Number.isSafeInteger(axis) || axis < 0 || axis >= shape.length)
      ctx.fail(`per_channel_affine axis ${String(axis)} is not a dimension of a [${shape}] tensor`);
    const n = shape[axis as number]!;
    if (!isVector(scales, 'float64', n))
      ctx.fail(`per_channel_affine scales must be float64 [${n}] (one per channel of axis ${axis})`);
    if (!isVector(zeroPoints, 'int64', n))
      ctx.fail(
        `per_channel_affine zero points must be int64 [${n}]`,
        'float zero points (per_channel_affine_float_qparams, for embedding bags) are not supported',
      );
    return { scheme: 'per_channel_affine', scales: scales as RawTensor, zeroPoints: zeroPoints as RawTensor, axis };
  }
  return ctx.fail(`_rebuild_qtensor: unsupported quantization scheme ${name}`, 'graft reads affine qschemes');
}

/** A 1-D tensor of n elements: a RawTensor, or the lazy reader's tensor reference (no bytes yet). */
function isVector(x: unknown, dtype: DType, n: number): boolean {
  if (typeof x !== 'object' || x === null || !('dtype' in x) || !('shape' in x)) return false;
  const { dtype: d, shape } = x as { dtype: unknown; shape: unknown };
  return d === dtype && Array.isArray(shape) && shape.length === 1 && shape[0] === n;
}

function checkScale(s: unknown, ctx: { fail(r: string): never }): void {
  if (typeof s !== 'number' || !Number.isFinite(s) || s <= 0) ctx.fail(`quantizer scale ${String(s)} is not > 0`);
}

function checkZeroPoint(z: unknown, qdtype: QDtypeName, ctx: { fail(r: string): never }): void {
  const [lo, hi] = ZP_RANGE[qdtype];
  if (typeof z !== 'number' || !Number.isSafeInteger(z) || z < lo || z > hi)
    ctx.fail(`quantizer zero point ${String(z)} is outside ${qdtype}'s [${lo}, ${hi}]`);
}

/**
 * The per-channel values, which arrive after unpickling: every scale finite and > 0, every zero point
 * in the dtype's range. Throws through fail (a file error) otherwise.
 */
export function checkQuantizerValues(t: QuantizedRawTensor, fail: (reason: string) => never): void {
  const q = t.quantizer;
  if (q.scheme !== 'per_channel_affine') return;
  if (!isRawTensor(q.scales) || !isRawTensor(q.zeroPoints))
    fail('per-channel qparams were not read (a lazy reference)');
  const scales = new Float64Array(q.scales.data.slice().buffer);
  const zps = new BigInt64Array(q.zeroPoints.data.slice().buffer);
  for (const s of scales) checkScale(s, { fail });
  for (const z of zps) checkZeroPoint(Number(z), t.qdtype, { fail });
}

/** Writes a quantized record as torch.save does (the storage's persistent id comes from `storage`). */
export function writeQtensor(
  p: Pickler,
  t: QuantizedRawTensor,
  at: string,
  storage: () => void,
  offset: number,
  tuple: (xs: readonly number[]) => void,
  strides: number[],
): void {
  p.global('torch._utils', '_rebuild_qtensor');
  p.mark();
  storage();
  p.int(offset);
  tuple(t.shape);
  tuple(strides);
  const q = t.quantizer;
  if (q.scheme === 'per_tensor_affine') {
    p.global('torch', 'per_tensor_affine');
    p.float(q.scale);
    p.int(q.zeroPoint);
    p.tuple(3);
  } else {
    p.mark();
    p.global('torch', 'per_channel_affine');
    p.value(q.scales, `${at}.q_per_channel_scales`, 1);
    p.value(q.zeroPoints, `${at}.q_per_channel_zero_points`, 1);
    p.int(q.axis);
    p.tuple(4);
  }
  p.byte(0x89); // requires_grad=False
  p.global('collections', 'OrderedDict');
  p.byte(0x29, 0x52); // OrderedDict(): backward hooks
  p.tuple(7);
  p.byte(0x52); // REDUCE
}
