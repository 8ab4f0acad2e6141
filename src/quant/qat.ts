// Eager-mode quantization-aware training as torch.ao.quantization's prepare_qat / convert: the
// model's quantizable form is fused for QAT (conv + BatchNorm kept), convs and linears become QAT
// modules with fake-quantized weights, every activation that will need qparams gets a fused
// observe + fake-quantize module; the model then trains as usual (the parameters are the float
// model's own) and convert() makes the int8 model from what the fake-quantizers settled on.
import { QuantError } from '../errors.ts';
import { BatchNorm2d, Conv2d, Linear, type Module } from '../nn/index.ts';
import { noGrad, type Tensor } from '../tensor/index.ts';
import { defaultQatQconfig, type FusedMovingAvgObsFakeQuantize, type QatQConfig } from './fake_quant.ts';
import { ConvBn2d, ConvBnReLU2d, ConvReLU2d, fuseConvBnWeights, LinearReLU } from './fuse.ts';
import { type QuantSpec, setSpec } from './module.ts';
import { isQatModule, QatConv2d, QatConvBn2d, QatLinear, type QatModule } from './qat_modules.ts';
import type { Backend } from './qconfig.ts';
import { DeQuantize, outputQparams, QFunctional, Quantize, QuantizedConv2d, QuantizedLinear } from './qmodules.ts';
import { quantize } from './qtensor.ts';
import { DeQuantStub, FloatFunctional, type QuantizableModel, QuantStub, quantizable } from './quantizable.ts';

export interface PrepareQatOptions {
  /** the backend torch names the QAT qconfig after (default 'fbgemm': reduce_range, per-channel weights) */
  backend?: Backend;
  /** an explicit qconfig (fake-quantizer factories); default defaultQatQconfig(backend) */
  qconfig?: QatQConfig;
}

const OBS = 'activation_post_process';
const prepared = new WeakMap<Module, { spec?: QuantSpec }>();

/** The QAT module for a float (fused) module, or undefined. */
function qatOf(m: Module, qconfig: QatQConfig): QatModule | undefined {
  if (m instanceof ConvBnReLU2d) return new QatConvBn2d(m.conv, m.bn, qconfig, true);
  if (m instanceof ConvBn2d) return new QatConvBn2d(m.conv, m.bn, qconfig);
  if (m instanceof ConvReLU2d) return new QatConv2d(m.conv, qconfig, true);
  if (m instanceof LinearReLU) return new QatLinear(m.linear, qconfig, true);
  if (m instanceof Conv2d) return new QatConv2d(m, qconfig);
  if (m instanceof Linear) return new QatLinear(m, qconfig);
  return undefined;
}

/**
 * The model's form for quantization-aware training, in train mode: fused (conv + BatchNorm kept),
 * convs / linears swapped for QAT modules sharing the float model's parameters, fake-quantizers on
 * activations (QuantStub, every QAT module, residual adds). Train it like the float model.
 */
export function prepareQat(model: Module, o: PrepareQatOptions = {}): QuantizableModel {
  const qconfig = o.qconfig ?? defaultQatQconfig(o.backend ?? 'fbgemm');
  const form = quantizable(model);
  form.train();
  form.fuseModel(true);
  const swaps: [string, Module][] = [];
  const skip = new Set<Module>();
  for (const [name, m] of form.namedModules()) {
    if (skip.has(m)) continue;
    const q = qatOf(m, qconfig);
    if (q) {
      if (name === '') throw new QuantError('the model itself is a single layer', 'wrap it in a Sequential');
      swaps.push([name, q]);
      for (const c of m.modules()) skip.add(c);
    } else if (m instanceof BatchNorm2d)
      throw new QuantError(`BatchNorm2d '${name}' does not follow a conv`, 'only conv + BatchNorm pairs quantize');
  }
  for (const [name, q] of swaps) form.setSubmodule(name, q);
  for (const [, m] of [...form.namedModules()]) {
    if (m instanceof FloatFunctional) m.activationPostProcess = m.registerModule(OBS, qconfig.activation());
    else if (m instanceof QuantStub || isQatModule(m)) {
      // torch's _observer_forward_hook: the output is replaced by its fake-quantized value
      const fq = m.registerModule(OBS, qconfig.activation());
      m.registerForwardHook((_mod, _args, out) => fq.call(out as Tensor));
    }
  }
  const spec: QuantSpec | undefined = o.qconfig
    ? undefined
    : { mode: 'static', backend: o.backend ?? 'fbgemm', activation: 'minmax' };
  prepared.set(form, spec ? { spec } : {});
  return form.train();
}

/** True for a model from prepareQat() not yet converted. */
export const isQatPrepared = (m: Module): boolean => prepared.has(m);

/** BatchNorm statistics frozen in every QAT conv + BatchNorm (torch's freeze_bn_stats), or thawed. */
export function freezeBnStats(model: Module, freeze = true): void {
  for (const m of model.modules()) if (m instanceof QatConvBn2d) freeze ? m.freezeBnStats() : m.updateBnStats();
}

function fakeQuantOf(m: Module, where: string): FusedMovingAvgObsFakeQuantize {
  for (const [n, c] of m.namedChildren()) if (n === OBS) return c as FusedMovingAvgObsFakeQuantize;
  throw new QuantError(`${where} has no activation fake-quantizer`, 'convert a model from prepareQat()');
}

// torch's from_float for a QAT module: conv + BatchNorm folded, the weight run once more through its
// fake-quantizer (its observer updates if still on), quantized with the observer's qparams
function quantizedOf(m: QatModule, name: string): Module {
  const out = outputQparams(fakeQuantOf(m, name).activationPostProcess, name);
  let weight: Tensor = m.weight.detach();
  let bias: Tensor | undefined = m.bias?.detach();
  if (m instanceof QatConvBn2d) ({ weight, bias } = fuseConvBnWeights(weight, bias, m.bn));
  const wfq = m.weightFakeQuant;
  if (wfq.dtype !== 'qint8') throw new QuantError(`${name}: weights quantize to qint8`);
  noGrad(() => wfq.call(weight));
  const qweight = quantize(weight.float(), wfq.activationPostProcess.qparams(), 'qint8');
  if (m instanceof QatLinear) return new QuantizedLinear(m.inFeatures, m.outFeatures, qweight, bias, out, m.relu);
  return new QuantizedConv2d(m.geometry, qweight, bias, out, m.relu);
}

/** convert() for a prepareQat() model: every QAT module, stub and residual add becomes int8, in place. */
export function convertQat<M extends Module>(model: M): M {
  const info = prepared.get(model);
  if (!info) throw new QuantError('convertQat() needs a model from prepareQat()', 'call quant.prepareQat(model)');
  const swaps: [string, Module][] = [];
  const skip = new Set<Module>();
  for (const [name, m] of model.namedModules()) {
    if (skip.has(m)) continue;
    let q: Module | undefined;
    if (m instanceof QuantStub) q = new Quantize(outputQparams(fakeQuantOf(m, name).activationPostProcess, name));
    else if (m instanceof DeQuantStub) q = new DeQuantize();
    else if (isQatModule(m)) q = quantizedOf(m, name);
    else if (m instanceof FloatFunctional)
      q = new QFunctional(outputQparams(fakeQuantOf(m, name).activationPostProcess, name));
    if (q) {
      swaps.push([name, q]);
      for (const c of m.modules()) skip.add(c);
    }
  }
  for (const [name, q] of swaps) model.setSubmodule(name, q);
  prepared.delete(model);
  if (info.spec) setSpec(model, info.spec);
  return model.eval();
}
