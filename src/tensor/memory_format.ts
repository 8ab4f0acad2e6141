// Memory formats (torch.channels_last): the same NCHW tensor with its elements stored NHWC
// (channels innermost). Convolutions, BatchNorm and pooling have NHWC kernels (oneDNN) that skip
// the layout shuffles the NCHW path pays, so a conv net whose weights and inputs are channels_last
// runs faster on the CPU; the math is the same, only summation order inside a kernel may differ.
import { ArgumentError } from '../errors.ts';
import { callRaw, op } from './_core.ts';
import { Tensor } from './tensor.ts';

export type MemoryFormat = 'contiguous' | 'channels_last';
// c10::MemoryFormat's numbers: Contiguous 0, Preserve 1, ChannelsLast 2, ChannelsLast3d 3
const CODE: Record<MemoryFormat, number> = { contiguous: 0, channels_last: 2 };

function code(format: MemoryFormat): number {
  const c = CODE[format];
  if (c === undefined) throw new ArgumentError(`memory format '${format}': expected contiguous or channels_last`);
  return c;
}

/**
 * t in the given memory format (torch's t.contiguous(memory_format=...)): t itself (a new handle)
 * when already so; channels_last needs a 4-d tensor.
 */
export function toMemoryFormat(t: Tensor, format: MemoryFormat): Tensor {
  if (format === 'channels_last' && t.ndim !== 4)
    throw new ArgumentError(`channels_last needs a 4-d tensor (N, C, H, W), got shape [${t.shape}]`);
  return new Tensor(callRaw(op('aten::contiguous'), t.h, code(format)));
}

/** The strides a dense tensor of `shape` has in the memory format (dimension order from innermost). */
function denseStrides(shape: number[], order: number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (const d of order) {
    strides[d] = step;
    step *= shape[d]!;
  }
  return strides;
}

/**
 * Whether t is stored densely in the memory format (torch's t.is_contiguous(memory_format=...));
 * dimensions of size 1 may have any stride, as in torch.
 */
export function isMemoryFormat(t: Tensor, format: MemoryFormat): boolean {
  code(format);
  const shape = t.shape;
  if (format === 'channels_last' && shape.length !== 4) return false;
  const order = format === 'channels_last' ? [1, 3, 2, 0] : shape.map((_, i) => shape.length - 1 - i);
  const want = denseStrides(shape, order);
  const have = t.strides();
  return shape.every((n, i) => n === 1 || have[i] === want[i]);
}
