// Quantized tensors through ATen (quantize_per_tensor / _per_channel, int_repr, q_scale...): graft's
// Tensor type carries them; their dtype has no graft name, so code here never asks for it.
import { aten, type Tensor, tensor } from '../tensor/index.ts';

/** torch.qint8 (weights), torch.quint8 (activations). */
export type QDType = 'qint8' | 'quint8';
/** c10::ScalarType codes of the quantized dtypes */
export const QDTYPE_CODE: Record<QDType | 'qint32', number> = { qint8: 12, quint8: 13, qint32: 14 };

/** Per-tensor qparams (numbers) or per-channel ones (float64 scales, int64 zero points, axis). */
export type QParams =
  | { scheme: 'per_tensor'; scale: number; zeroPoint: number }
  | { scheme: 'per_channel'; scales: Tensor; zeroPoints: Tensor; axis: number };

export function quantize(x: Tensor, qp: QParams, dtype: QDType): Tensor {
  const f = x.float();
  if (qp.scheme === 'per_tensor') return aten('quantize_per_tensor')(f, qp.scale, qp.zeroPoint, QDTYPE_CODE[dtype]);
  return aten('quantize_per_channel')(f, qp.scales, qp.zeroPoints, qp.axis, QDTYPE_CODE[dtype]);
}

/** The integers of a quantized tensor (int8 or uint8). */
export const intRepr = (q: Tensor): Tensor => aten('int_repr')(q);
export const dequantize = (q: Tensor): Tensor => aten('dequantize', 'self')(q);

/** The qparams a quantized tensor carries. */
export function qparamsOf(q: Tensor): QParams {
  const scheme = aten('qscheme')(q) as number;
  // c10::QScheme: 0 per_tensor_affine, 1 per_channel_affine, 2 per_tensor_symmetric, 3 per_channel_symmetric
  if (scheme === 1 || scheme === 3 || scheme === 4)
    return {
      scheme: 'per_channel',
      scales: aten('q_per_channel_scales')(q),
      zeroPoints: aten('q_per_channel_zero_points')(q),
      axis: aten('q_per_channel_axis')(q),
    };
  return { scheme: 'per_tensor', scale: aten('q_scale')(q), zeroPoint: aten('q_zero_point')(q) };
}

/** A quantized tensor from its integers and qparams (the inverse of intRepr + qparamsOf). */
export function fromIntRepr(ints: Tensor, qp: QParams): Tensor {
  if (qp.scheme === 'per_tensor') return aten('_make_per_tensor_quantized_tensor')(ints, qp.scale, qp.zeroPoint);
  return aten('_make_per_channel_quantized_tensor')(ints, qp.scales, qp.zeroPoints, qp.axis);
}

/** Qparams as plain tensors for a state dict: scale float64 and zero_point int64, [] or [C]. */
export function qparamsToTensors(qp: QParams): { scale: Tensor; zeroPoint: Tensor } {
  if (qp.scheme === 'per_tensor')
    return { scale: tensor(qp.scale, { dtype: 'float64' }), zeroPoint: tensor(qp.zeroPoint, { dtype: 'int64' }) };
  return { scale: qp.scales.to('float64'), zeroPoint: qp.zeroPoints.to('int64') };
}

export function qparamsFromTensors(scale: Tensor, zeroPoint: Tensor, axis = 0): QParams {
  if (scale.ndim === 0)
    return { scheme: 'per_tensor', scale: scale.item() as number, zeroPoint: zeroPoint.item() as number };
  return { scheme: 'per_channel', scales: scale.to('float64'), zeroPoints: zeroPoint.to('int64'), axis };
}
