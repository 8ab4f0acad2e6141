// RawTensor (bytes as checkpoint formats hold them) <-> libtorch Tensor.
import { type Tensor, tensor } from '../tensor/index.ts';
import type { RawTensor } from './raw.ts';

export function rawToTensor(raw: RawTensor): Tensor {
  return tensor(raw.data, { dtype: raw.dtype, shape: raw.shape });
}

export function tensorToRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: t.shape, data: t.bytes() };
}
