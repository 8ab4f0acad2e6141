// The base of graft's quantized modules: plain-tensor state (int weights, scales, zero points) that
// saves like any state dict, and native packed weights rebuilt from it after a load.
import { Module, type StateDictLike } from '../nn/index.ts';
import type { DynamicOptions } from './dynamic.ts';
import type { ActivationObserver, Backend } from './qconfig.ts';

/** How a model was quantized: enough to rebuild its structure before loading its tensors. */
export type QuantSpec =
  | ({ mode: 'dynamic' } & Omit<DynamicOptions, 'dtype'>)
  | { mode: 'static'; backend: Backend; activation: ActivationObserver };

const specs = new WeakMap<Module, QuantSpec>();

/** Records how a model was quantized (quantizeDynamic and convert do it). */
export function setSpec(model: Module, spec: QuantSpec): void {
  specs.set(model, spec);
}
/** How a model was quantized, if graft quantized it. */
export const specOf = (model: Module): QuantSpec | undefined => specs.get(model);

export abstract class QuantizedModule extends Module {
  /** Rebuilds the native packed weight from the module's buffers (after loadStateDict). */
  abstract repack(): void;
  /** Frees the native packed weight (repack() makes it again). */
  abstract releasePacked(): void;

  override dispose(): void {
    this.releasePacked();
    super.dispose();
  }
}

/** True when the model holds quantized modules. */
export const isQuantized = (model: Module): boolean => [...model.modules()].some((m) => m instanceof QuantizedModule);

/**
 * Loads a quantized state dict into a model of the same quantized structure (built by
 * quantizeDynamic or prepare + convert) and repacks its weights.
 */
export function loadQuantizedStateDict(model: Module, sd: StateDictLike, opts: { strict?: boolean } = {}): void {
  model.loadStateDict(sd, opts);
  for (const m of model.modules()) if (m instanceof QuantizedModule) m.repack();
}

/** Frees the model's native packed weights now (GC frees them otherwise); the model is unusable after. */
export function releasePacked(model: Module): void {
  for (const m of model.modules()) if (m instanceof QuantizedModule) m.releasePacked();
}
