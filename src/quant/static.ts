// Eager-mode post-training static quantization as torch.ao.quantization's prepare / calibrate /
// convert: fuse, watch activations with observers while calibration batches run, then swap every
// conv / linear / stub / residual add for its quantized module.
import { QuantError } from '../errors.ts';
import { BatchNorm2d, Conv2d, Linear, type Module } from '../nn/index.ts';
import { noGrad, type Tensor } from '../tensor/index.ts';
import { ConvReLU2d, LinearReLU } from './fuse.ts';
import { type QuantSpec, setSpec } from './module.ts';
import type { Observer } from './observer.ts';
import { convertQat, isQatPrepared } from './qat.ts';
import { type ActivationObserver, type Backend, defaultQconfig, type QConfig } from './qconfig.ts';
import { DeQuantize, outputQparams, QFunctional, Quantize, QuantizedConv2d, QuantizedLinear } from './qmodules.ts';
import { DeQuantStub, FloatFunctional, type QuantizableModel, QuantStub, quantizable } from './quantizable.ts';

export interface PrepareOptions {
  /** an explicit qconfig; default: defaultQconfig(backend, activation) */
  qconfig?: QConfig;
  /** the preset torch would pick for this backend (default 'fbgemm': reduce_range, per-channel weights) */
  backend?: Backend;
  /** 'histogram' (torch's default) or 'minmax' */
  activation?: ActivationObserver;
}

const qconfigs = new WeakMap<Module, { qconfig: QConfig; spec?: QuantSpec }>();
const watched = new WeakMap<Module, Map<Module, { obs: Observer; remove: () => void }>>();
const OBS = 'activation_post_process';

/**
 * The model's quantizable form, fused and in eval mode, with observers on every activation that
 * will need qparams. The float model's own layers are not changed (the form shares them until
 * fusion replaces the fused ones).
 */
export function prepare(model: Module, o: PrepareOptions = {}): QuantizableModel {
  const qconfig = o.qconfig ?? defaultQconfig(o.backend ?? 'fbgemm', o.activation ?? 'histogram');
  const form = quantizable(model);
  form.eval();
  form.fuseModel();
  const skip = new Set<Module>();
  const hooked = new Map<Module, { obs: Observer; remove: () => void }>();
  for (const [, m] of [...form.namedModules()]) {
    if (skip.has(m)) continue;
    if (m instanceof ConvReLU2d || m instanceof LinearReLU) for (const c of m.modules()) skip.add(c);
    if (m instanceof FloatFunctional) {
      m.activationPostProcess = m.registerModule(OBS, qconfig.activation());
    } else if (m instanceof QuantStub || m instanceof ConvReLU2d || m instanceof LinearReLU) {
      // modules the form made: the observer is a child, as torch's (a fused Sequential then runs
      // it twice per forward, in the chain and in the hook: torch 1.13 does the same)
      const obs = m.registerModule(OBS, qconfig.activation());
      m.registerForwardHook((_mod, _args, out) => void obs.call(out as Tensor));
    } else if ((m instanceof Conv2d || m instanceof Linear) && !hooked.has(m)) {
      // possibly shared with the float model: watched from outside, unhooked by convert
      const obs = qconfig.activation();
      const remove = m.registerForwardHook((_mod, _args, out) => void obs.call(out as Tensor));
      hooked.set(m, { obs, remove });
    }
  }
  watched.set(form, hooked);
  const spec: QuantSpec | undefined = o.qconfig
    ? undefined
    : { mode: 'static', backend: o.backend ?? 'fbgemm', activation: o.activation ?? 'histogram' };
  qconfigs.set(form, { qconfig, ...(spec ? { spec } : {}) });
  return form.eval();
}

/** Runs calibration batches through a prepared model (no gradients); returns how many ran. */
export function calibrate(prepared: Module, batches: Iterable<Tensor>, o: { limit?: number } = {}): number {
  let n = 0;
  noGrad(() => {
    for (const x of batches) {
      if (o.limit !== undefined && n >= o.limit) break;
      prepared.call(x);
      n++;
    }
  });
  if (n === 0) throw new QuantError('calibration saw no batches', 'pass at least one batch of inputs');
  return n;
}

function observerOf(m: Module, hooked: Map<Module, { obs: Observer }> | undefined): Observer | undefined {
  const outside = hooked?.get(m)?.obs;
  if (outside) return outside;
  for (const [n, c] of m.namedChildren()) if (n === OBS) return c as Observer;
  return undefined;
}

/** Swaps the prepared (or QAT-prepared) model's modules for quantized ones, in place; returns the model. */
export function convert<M extends Module>(prepared: M): M {
  if (isQatPrepared(prepared)) return convertQat(prepared);
  const { qconfig, spec } = qconfigs.get(prepared) ?? {};
  if (!qconfig)
    throw new QuantError('convert() needs a model from prepare()', 'call quant.prepare(model) and calibrate first');
  const hooked = watched.get(prepared);
  const observerOf_ = (m: Module) => observerOf(m, hooked);
  const swaps: [string, Module][] = [];
  const skip = new Set<Module>();
  for (const [name, m] of prepared.namedModules()) {
    if (skip.has(m)) continue;
    let q: Module | undefined;
    if (m instanceof QuantStub) q = new Quantize(outputQparams(observerOf_(m), name));
    else if (m instanceof DeQuantStub) q = new DeQuantize();
    else if (m instanceof ConvReLU2d) q = QuantizedConv2d.fromFloat(m.conv, observerOf_(m), qconfig, true);
    else if (m instanceof LinearReLU) q = QuantizedLinear.fromFloat(m.linear, observerOf_(m), qconfig, true);
    else if (m instanceof Conv2d) q = QuantizedConv2d.fromFloat(m, observerOf_(m), qconfig);
    else if (m instanceof Linear) q = QuantizedLinear.fromFloat(m, observerOf_(m), qconfig);
    else if (m instanceof FloatFunctional) q = new QFunctional(outputQparams(observerOf_(m), name));
    else if (m instanceof BatchNorm2d)
      throw new QuantError(`BatchNorm2d '${name}' was not fused into a conv`, 'only conv + BatchNorm pairs quantize');
    if (q) {
      swaps.push([name, q]);
      for (const c of m.modules()) skip.add(c);
    }
  }
  for (const [name, q] of swaps) {
    if (name === '') throw new QuantError('the model itself is a single layer', 'wrap it in a Sequential');
    prepared.setSubmodule(name, q);
  }
  for (const { remove } of hooked?.values() ?? []) remove();
  qconfigs.delete(prepared);
  watched.delete(prepared);
  if (spec) setSpec(prepared, spec);
  return prepared.eval();
}

/** prepare + calibrate + convert in one call: the quantized model (a new form sharing nothing float). */
export function quantizeStatic(
  model: Module,
  batches: Iterable<Tensor>,
  o: PrepareOptions & { limit?: number } = {},
): QuantizableModel {
  const prepared = prepare(model, o);
  calibrate(prepared, batches, { limit: o.limit });
  return convert(prepared);
}
