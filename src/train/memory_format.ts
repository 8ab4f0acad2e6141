// The trainer's memoryFormat option: 'channels_last' converts the model's 4-d weights once and every
// 4-d input tensor per batch (training and validation), so convolutions take oneDNN's NHWC path.
import { type Module, toMemoryFormatModule } from '../nn/index.ts';
import { isMemoryFormat, type MemoryFormat, Tensor, toMemoryFormat } from '../tensor/index.ts';
import type { ForwardFn } from './options.ts';

const convert = (v: unknown, format: MemoryFormat): unknown =>
  v instanceof Tensor && v.ndim === 4 && !isMemoryFormat(v, format) ? toMemoryFormat(v, format) : v;

/** The model converted in place, and `forward` wrapped to convert its 4-d tensor inputs (an array's or object's too). */
export function withMemoryFormat(model: Module, forward: ForwardFn, format: MemoryFormat | undefined): ForwardFn {
  if (format === undefined || format === 'contiguous') return forward;
  toMemoryFormatModule(model, format);
  return (m, input, batch) => {
    const moved = Array.isArray(input)
      ? input.map((t) => convert(t, format))
      : input instanceof Tensor
        ? convert(input, format)
        : Object.fromEntries(Object.entries(input).map(([k, t]) => [k, convert(t, format)]));
    return forward(m, moved as typeof input, batch);
  };
}
