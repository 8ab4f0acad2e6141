// Quantized models as PyTorch's .pth: the state dict torch.ao.nn.quantized modules save, so
// torch.load + load_state_dict on the matching torch quantized model takes what graft writes, and
// graft loads what torch.save(qmodel.state_dict()) wrote. Per module (graft's buffers -> torch's keys):
//   QuantizedConv2d         weight (a qint8 quantized tensor), bias, scale, zero_point
//   QuantizedLinear         scale, zero_point, _packed_params.dtype (torch.qint8),
//                           _packed_params._packed_params = (qint8 weight, bias)
//   DynamicQuantizedLinear  the same, scale 1.0 / zero_point 0 as nnqd.Linear saves them
//   Quantize                scale [1], zero_point [1]; QFunctional: scale, zero_point
// graft keeps a weight as int8 values + weight_scale + weight_zero_point; torch as one quantized
// tensor carrying its quantizer. The state dict's _metadata holds the module versions torch's
// loaders read (a Linear's packed-params layout is version 3).
import { ArgumentError } from '../errors.ts';
import {
  PyGlobal,
  type PyInput,
  type PyKey,
  PyOrderedDict,
  type PyValue,
  type QuantizedRawTensor,
  type Quantizer,
  tuple,
  writePth,
} from '../io/index.ts';
import { tensorToRaw } from '../io/tensors.ts';
import type { Module } from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { DynamicQuantizedLinear } from './dynamic.ts';
import { isQuantized, QuantizedModule } from './module.ts';
import { QFunctional, Quantize, QuantizedConv2d, QuantizedLinear } from './qmodules.ts';

/** The graft modules that have a torch.ao.nn.quantized layout. */
export type TorchLayoutModule = QuantizedConv2d | QuantizedLinear | DynamicQuantizedLinear | Quantize | QFunctional;

export function hasTorchLayout(m: Module): m is TorchLayoutModule {
  return (
    m instanceof QuantizedConv2d ||
    m instanceof QuantizedLinear ||
    m instanceof DynamicQuantizedLinear ||
    m instanceof Quantize ||
    m instanceof QFunctional
  );
}

/** torch's _version of the module a graft module saves as (torch's load_state_dict migrates by it). */
function torchVersion(m: Module): number {
  if (m instanceof DynamicQuantizedLinear) return 4;
  if (m instanceof QuantizedLinear) return 3;
  if (/^BatchNorm[123]d$/.test(m.constructor.name)) return 2;
  return 1;
}

const raw = (t: Tensor) => tensorToRaw(t);

/** A graft int8 weight with its scale(s) and zero point(s) as torch's quantized tensor record. */
export function quantizedRecord(ints: Tensor, scale: Tensor, zeroPoint: Tensor): QuantizedRawTensor {
  const quantizer: Quantizer =
    scale.ndim === 0
      ? { scheme: 'per_tensor_affine', scale: Number(scale.item()), zeroPoint: Number(zeroPoint.item()) }
      : {
          scheme: 'per_channel_affine',
          scales: raw(scale.to('float64')),
          zeroPoints: raw(zeroPoint.to('int64')),
          axis: 0,
        };
  return { ...raw(ints), qdtype: 'qint8', quantizer };
}

function scalarF32(t: Tensor): PyInput {
  return raw(t.to('float32').reshape([]));
}

/** The torch entries of one graft quantized module, prefix included ('' or 'name.'). */
function torchEntries(m: TorchLayoutModule, p: string): [string, PyInput][] {
  if (m instanceof Quantize)
    return [
      [`${p}scale`, raw(m.scale.to('float32').reshape([1]))],
      [`${p}zero_point`, raw(m.zeroPoint.to('int64').reshape([1]))],
    ];
  if (m instanceof QFunctional)
    return [
      [`${p}scale`, scalarF32(m.scale)],
      [`${p}zero_point`, raw(m.zeroPoint.to('int64').reshape([]))],
    ];
  const weight = quantizedRecord(m.weight, m.weightScale, m.weightZeroPoint);
  const bias = m.bias ? raw(m.bias.float()) : null;
  if (m instanceof QuantizedConv2d)
    return [
      [`${p}weight`, weight],
      [`${p}bias`, bias],
      [`${p}scale`, scalarF32(m.scale)],
      [`${p}zero_point`, raw(m.zeroPoint.to('int64').reshape([]))],
    ];
  // nnq.Linear saves its output qparams; nnqd.Linear saves nnq.Linear's defaults (1.0, 0)
  const out: [PyInput, PyInput] =
    m instanceof QuantizedLinear
      ? [scalarF32(m.scale), raw(m.zeroPoint.to('int64').reshape([]))]
      : [
          { dtype: 'float32', shape: [], data: new Uint8Array(new Float32Array([1]).buffer) },
          { dtype: 'int64', shape: [], data: new Uint8Array(8) },
        ];
  return [
    [`${p}scale`, out[0]],
    [`${p}zero_point`, out[1]],
    [`${p}_packed_params.dtype`, new PyGlobal('torch', 'qint8')],
    [`${p}_packed_params._packed_params`, tuple(weight, bias) as PyInput],
  ];
}

/**
 * The state dict a torch.ao quantized model of the same architecture saves: graft's float tensors as
 * they are, each quantized module in torch's layout, and `_metadata` with torch's module versions.
 */
export function toTorchStateDict(model: Module): PyOrderedDict {
  if (!isQuantized(model))
    throw new ArgumentError(
      'toTorchStateDict needs a quantized model',
      'quantize it first (quantizeDynamic, quantizeStatic or convertQat)',
    );
  const owners = new Map<string, TorchLayoutModule>();
  const metadata = new PyOrderedDict();
  const version = (v: number) => new Map<PyKey, PyValue>([['version', v]]);
  for (const [name, m] of model.namedModules()) {
    if (m instanceof QuantizedModule && !hasTorchLayout(m))
      throw new ArgumentError(`'${name}' (${m.constructor.name}) has no PyTorch layout`, 'save it with saveQuantized');
    metadata.set(name, version(torchVersion(m)));
    if (m instanceof QuantizedLinear || m instanceof DynamicQuantizedLinear)
      metadata.set(name ? `${name}._packed_params` : '_packed_params', version(3));
    if (hasTorchLayout(m)) owners.set(name, m);
  }
  const out = new PyOrderedDict<string, PyValue>();
  const done = new Set<string>();
  const emit = (owner: string, m: TorchLayoutModule) => {
    if (done.has(owner)) return;
    done.add(owner);
    for (const [k, v] of torchEntries(m, owner ? `${owner}.` : '')) out.set(k, v as PyValue);
  };
  for (const [k, t] of model.stateDict()) {
    const dot = k.lastIndexOf('.');
    const owner = dot < 0 ? '' : k.slice(0, dot);
    const m = owners.get(owner);
    if (m) emit(owner, m);
    else out.set(k, raw(t));
  }
  // modules whose every buffer graft keeps out of its state dict still save torch's keys
  for (const [owner, m] of owners) emit(owner, m);
  out.attributes.set('_metadata', metadata);
  return out;
}

/**
 * Writes a quantized model (quantizeDynamic, quantizeStatic, convertQat) as a .pth in PyTorch's
 * layout (atomically): torch.load + load_state_dict on the matching torch.ao quantized model take it.
 */
export function saveQuantizedPth(path: string, model: Module): void {
  writePth(path, toTorchStateDict(model));
}
