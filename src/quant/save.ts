// Quantized models on disk: the state dict's plain tensors (int8 weights, their scales and zero
// points, float biases, output qparams) in a safetensors file, with how the model was quantized in
// its metadata, so loading rebuilds the same quantized structure over a fresh float model.
import { existsSync } from 'node:fs';
import { CheckpointError, QuantError } from '../errors.ts';
import { readSafetensors, writeSafetensors } from '../io/index.ts';
import { rawToTensor, tensorToRaw } from '../io/tensors.ts';
import type { Module } from '../nn/index.ts';
import { DTYPE_BYTES } from '../tensor/index.ts';
import { quantizeDynamic } from './dynamic.ts';
import { loadQuantizedStateDict, type QuantSpec, setSpec, specOf } from './module.ts';
import { convert, prepare } from './static.ts';

const META_KEY = 'graft.quantization';

/** Writes a quantized model's state dict and spec as safetensors (atomically). */
export function saveQuantized(path: string, model: Module, spec: QuantSpec | undefined = specOf(model)): void {
  if (!spec)
    throw new QuantError('saveQuantized needs a model from quantizeDynamic or quantizeStatic', 'or pass its QuantSpec');
  const tensors = new Map([...model.stateDict()].map(([k, t]) => [k, tensorToRaw(t)]));
  writeSafetensors(path, tensors, { format: 'pt', [META_KEY]: JSON.stringify(spec) });
}

/** The spec a saved quantized model was written with (undefined for a float file). */
export function readSpec(path: string): QuantSpec | undefined {
  const { metadata } = readSafetensors(path, { filter: () => false });
  const raw = metadata?.[META_KEY];
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as QuantSpec;
  } catch {
    throw new CheckpointError(path, `metadata ${META_KEY} is not JSON`);
  }
}

/**
 * Quantizes a fresh float model the way the file says (no calibration: the file holds the qparams)
 * and loads the file into it. Returns the quantized model (for static: a new module).
 */
export function loadQuantized(path: string, floatModel: Module): Module {
  if (!existsSync(path)) throw new CheckpointError(path, 'no such file');
  const spec = readSpec(path);
  if (!spec)
    throw new CheckpointError(
      path,
      'not a quantized model (no graft.quantization metadata)',
      'load it as a float model',
    );
  floatModel.eval();
  let model: Module;
  if (spec.mode === 'dynamic') {
    const { mode: _, ...o } = spec;
    quantizeDynamic(floatModel, o);
    model = floatModel;
  } else if (spec.mode === 'static') {
    // uncalibrated MinMax observers give placeholder qparams; the file's replace them
    model = convert(prepare(floatModel, { backend: spec.backend, activation: 'minmax' }));
  } else throw new CheckpointError(path, `unknown quantization mode '${(spec as { mode: string }).mode}'`);
  const { tensors } = readSafetensors(path);
  const sd = new Map([...tensors].map(([k, r]) => [k, rawToTensor(r)]));
  try {
    loadQuantizedStateDict(model, sd);
  } finally {
    for (const t of sd.values()) t.dispose();
  }
  setSpec(model, spec);
  return model.eval();
}

/** Bytes of a model's state dict (what a checkpoint of it holds), by dtype. */
export function stateDictBytes(model: Module): { total: number; byDtype: Record<string, number> } {
  const byDtype: Record<string, number> = {};
  let total = 0;
  for (const t of model.stateDict().values()) {
    const b = t.numel() * DTYPE_BYTES[t.dtype];
    byDtype[t.dtype] = (byDtype[t.dtype] ?? 0) + b;
    total += b;
  }
  return { total, byDtype };
}
