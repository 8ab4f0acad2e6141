// onnxruntime-node for the export tests: run an exported model, compare with graft's logits.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import type { Tensor } from '../../src/tensor/index.ts';

export const ort = createRequire(import.meta.url)('onnxruntime-node');

const ORT_TYPE: Record<string, string> = {
  float32: 'float32',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
  float64: 'float64',
};

/** Runs an ONNX model (bytes or a file path) on graft tensors; the outputs as ORT tensors. */
export async function runOnnx(
  model: Uint8Array | string,
  feeds: Record<string, Tensor>,
): Promise<Record<string, { dims: readonly number[]; data: ArrayLike<number> }>> {
  const session = await ort.InferenceSession.create(model);
  const f: Record<string, unknown> = {};
  for (const [k, t] of Object.entries(feeds)) f[k] = new ort.Tensor(ORT_TYPE[t.dtype], t.data(), t.shape);
  return session.run(f);
}

/** Asserts same shape and max |a - b| <= tol; returns the max difference. */
export function assertClose(
  got: { dims: readonly number[]; data: ArrayLike<number> },
  want: Tensor,
  tol = 1e-4,
  what = 'output',
): number {
  assert.deepEqual([...got.dims], want.shape, `${what}: shape`);
  const w = want.float().data() as Float32Array;
  let max = 0;
  for (let i = 0; i < w.length; i++) max = Math.max(max, Math.abs(w[i]! - Number(got.data[i])));
  assert.ok(max <= tol, `${what}: max |onnxruntime - graft| = ${max} > ${tol}`);
  return max;
}
