// Safetensors fixtures as Tensors, in file order, through src/io's reader.
import { readSafetensors } from '../../src/io/index.ts';
import { fromArray, type Tensor } from '../../src/tensor/index.ts';

export function readSafetensorsFile(path: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, raw] of readSafetensors(path).tensors) {
    // the reader may hand out a view into a larger buffer: copy so the tensor owns aligned bytes
    const bytes = raw.data.slice();
    out.set(name, fromArray(bytes, raw.shape, { dtype: raw.dtype }));
  }
  return out;
}
