// Loading torch.save(qmodel.state_dict()) of a torch.ao quantized model into graft's quantized
// modules (the layout is described in pth.ts). Every quantized weight is checked (qint8, its shape,
// per-channel axis 0, scales > 0, zero points in range) before anything is loaded: a bad file is a
// CheckpointError naming the key, never a crash inside libtorch.
import { existsSync } from 'node:fs';
import { CheckpointError, GraftError } from '../errors.ts';
import {
  checkQuantizerValues,
  isQuantizedRaw,
  isRawTensor,
  type PyValue,
  type QuantizedRawTensor,
  type RawTensor,
  readPth,
} from '../io/index.ts';
import { rawToTensor } from '../io/tensors.ts';
import { Linear, type Module } from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { DynamicQuantizedLinear, quantizeDynamic } from './dynamic.ts';
import { loadQuantizedStateDict, setSpec } from './module.ts';
import { hasTorchLayout } from './pth.ts';
import { QuantizedConv2d, QuantizedLinear } from './qmodules.ts';
import { fromIntRepr, type QParams } from './qtensor.ts';
import { convert, prepare } from './static.ts';

type TorchStateDict = Map<unknown, PyValue>;

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Reads torch's entries for one file, remembering which were used. */
class Entries {
  readonly used = new Set<string>();
  constructor(
    readonly sd: TorchStateDict,
    readonly file: string,
  ) {}
  fail(reason: string, hint?: string): never {
    throw new CheckpointError(this.file, reason, hint);
  }
  has(k: string): boolean {
    return this.sd.has(k);
  }
  take(k: string): PyValue {
    if (!this.sd.has(k))
      this.fail(
        `missing key '${k}'`,
        'the file was saved from a different model: compare the keys with `graft inspect`',
      );
    this.used.add(k);
    return this.sd.get(k)!;
  }
  tensor(k: string, dtype?: string): RawTensor {
    const v = this.take(k);
    if (!isRawTensor(v) || isQuantizedRaw(v)) this.fail(`'${k}' is not a plain tensor`);
    if (dtype && v.dtype !== dtype) this.fail(`'${k}' is ${v.dtype}, expected ${dtype}`);
    return v;
  }
  /** A float tensor or None (an absent bias). */
  bias(k: string, n: number): Tensor | undefined {
    const v = this.take(k);
    if (v === null) return undefined;
    if (!isRawTensor(v) || isQuantizedRaw(v) || v.dtype !== 'float32' || !sameShape(v.shape, [n]))
      this.fail(`'${k}' must be a float32 [${n}] bias or None`);
    return rawToTensor(v);
  }
}

/** A qint8 weight of the expected shape as a graft quantized tensor. */
function qweight(e: Entries, k: string, v: PyValue, shape: readonly number[]): Tensor {
  if (!isQuantizedRaw(v)) e.fail(`'${k}' is not a quantized tensor`, 'save the converted (quantized) model');
  if (v.qdtype !== 'qint8') e.fail(`'${k}' is ${v.qdtype}; quantized weights are qint8`);
  if (!sameShape(v.shape, shape)) e.fail(`'${k}' has shape [${v.shape}], the model's weight is [${shape}]`);
  checkQuantizerValues(v, (r) => e.fail(`'${k}': ${r}`));
  const q = v.quantizer;
  if (q.scheme === 'per_channel_affine' && q.axis !== 0)
    e.fail(`'${k}' is quantized per channel along axis ${q.axis}; graft's weights are per output channel (axis 0)`);
  return quantizedTensor(v);
}

/** A graft quantized tensor from torch's record. */
export function quantizedTensor(v: QuantizedRawTensor): Tensor {
  const q = v.quantizer;
  const qp: QParams =
    q.scheme === 'per_tensor_affine'
      ? { scheme: 'per_tensor', scale: q.scale, zeroPoint: q.zeroPoint }
      : { scheme: 'per_channel', scales: rawToTensor(q.scales), zeroPoints: rawToTensor(q.zeroPoints), axis: q.axis };
  return fromIntRepr(rawToTensor(v), qp);
}

/** Output qparams (float scale > 0, quint8 zero point) as graft's scalar buffers. */
function outputQparams(e: Entries, p: string, into: Map<string, Tensor>): void {
  const s = e.tensor(`${p}scale`, 'float32');
  const z = e.tensor(`${p}zero_point`, 'int64');
  for (const [k, t] of [
    [`${p}scale`, s],
    [`${p}zero_point`, z],
  ] as const)
    if (t.shape.length > 1 || (t.shape.length === 1 && t.shape[0] !== 1)) e.fail(`'${k}' must hold one number`);
  const scale = rawToTensor(s).reshape([]);
  const zeroPoint = rawToTensor(z).reshape([]);
  const sv = scale.item() as number;
  const zv = Number(zeroPoint.item());
  if (!Number.isFinite(sv) || sv <= 0) e.fail(`'${p}scale' is ${sv}; an output scale is > 0`);
  if (zv < 0 || zv > 255) e.fail(`'${p}zero_point' is ${zv}; quint8 zero points are in [0, 255]`);
  into.set(`${p}scale`, scale);
  into.set(`${p}zero_point`, zeroPoint);
}

/** A Linear's (qweight, bias) in any of torch's layouts (packed-params versions 1 to 3). */
function linearWeightBias(e: Entries, p: string): [string, PyValue, PyValue | undefined] {
  if (e.has(`${p}_packed_params.dtype`)) {
    const dtype = e.take(`${p}_packed_params.dtype`);
    if (dtype !== 'qint8')
      e.fail(`'${p}_packed_params.dtype' is ${String(dtype)}`, 'graft loads qint8 Linear weights (not float16)');
  }
  const k = `${p}_packed_params._packed_params`;
  if (e.has(k)) {
    const wb = e.take(k);
    if (!Array.isArray(wb) || wb.length !== 2) e.fail(`'${k}' is not a (weight, bias) tuple`);
    return [k, wb[0] as PyValue, wb[1] as PyValue];
  }
  for (const q of [`${p}_packed_params.`, p])
    if (e.has(`${q}weight`)) return [`${q}weight`, e.take(`${q}weight`), e.has(`${q}bias`) ? e.take(`${q}bias`) : null];
  return e.fail(
    `missing key '${k}'`,
    'the file was saved from a different model: compare the keys with `graft inspect`',
  );
}

/**
 * Loads a torch.ao quantized state dict into a graft model of the same quantized structure (from
 * quantizeDynamic, prepare + convert, or convertQat). Weights may be per-tensor or per-channel
 * whatever the model was built with. `file` names the source in errors.
 */
export function loadTorchQuantizedStateDict(model: Module, sd: TorchStateDict, file = 'state dict'): void {
  const e: Entries = new Entries(sd, file);
  const into = new Map<string, Tensor>();
  const quantizedWeights: [
    Module & { setWeightBias(w: Tensor, b: Tensor | undefined): void },
    Tensor,
    Tensor | undefined,
  ][] = [];
  const owned = new Set<string>();
  for (const [name, m] of model.namedModules()) {
    if (!hasTorchLayout(m)) continue;
    const p = name ? `${name}.` : '';
    owned.add(name);
    if (m instanceof QuantizedConv2d) {
      const w = qweight(e, `${p}weight`, e.take(`${p}weight`), m.weight.shape);
      quantizedWeights.push([m, w, e.bias(`${p}bias`, m.outChannels)]);
      outputQparams(e, p, into);
    } else if (m instanceof QuantizedLinear || m instanceof DynamicQuantizedLinear) {
      const [wk, wv, bv] = linearWeightBias(e, p);
      const w = qweight(e, wk, wv, [m.outFeatures, m.inFeatures]);
      let bias: Tensor | undefined;
      if (bv !== null && bv !== undefined) {
        if (!isRawTensor(bv) || isQuantizedRaw(bv) || bv.dtype !== 'float32' || !sameShape(bv.shape, [m.outFeatures]))
          e.fail(`the bias of '${wk}' must be a float32 [${m.outFeatures}] tensor or None`);
        bias = rawToTensor(bv);
      }
      quantizedWeights.push([m, w, bias]);
      if (m instanceof QuantizedLinear) outputQparams(e, p, into);
      else for (const k of [`${p}scale`, `${p}zero_point`]) if (e.has(k)) e.take(k); // nnqd.Linear's unused defaults
    } else outputQparams(e, p, into);
  }
  // float modules' tensors pass through under the same names
  const ownerOf = (k: string) => (k.lastIndexOf('.') < 0 ? '' : k.slice(0, k.lastIndexOf('.')));
  for (const k of model.stateDict().keys()) {
    if (owned.has(ownerOf(k))) continue;
    const v = e.take(k);
    if (!isRawTensor(v) || isQuantizedRaw(v)) e.fail(`'${k}' is not a plain tensor`);
    into.set(k, rawToTensor(v));
  }
  const unexpected = [...sd.keys()].filter((k) => typeof k !== 'string' || !e.used.has(k)).map(String);
  if (unexpected.length)
    e.fail(
      `keys the model does not have: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', ...' : ''}`,
      'the file was saved from a different model: compare the keys with `graft inspect`',
    );
  try {
    // everything checked: now swap in the weights (their shapes may differ from the model's) and load
    for (const [m, w, b] of quantizedWeights) m.setWeightBias(w, b);
    for (const [name, m] of model.namedModules())
      if (m instanceof QuantizedConv2d || m instanceof QuantizedLinear || m instanceof DynamicQuantizedLinear) {
        const p = name ? `${name}.` : '';
        for (const [k, t] of m.stateDict({ prefix: p })) if (!into.has(k)) into.set(k, t);
      }
    loadQuantizedStateDict(model, into, { strict: true });
  } catch (err) {
    if (err instanceof GraftError) throw new CheckpointError(file, err.message, err.hint);
    throw err;
  }
}

/**
 * How the file was quantized: static when it holds an input stub's qparams (nnq.Quantize saves its
 * scale as shape [1]) or a quantized conv weight; dynamic otherwise (only Linear weights are int8).
 */
function fileMode(sd: TorchStateDict): 'static' | 'dynamic' {
  for (const [k, v] of sd) {
    if (typeof k !== 'string') continue;
    if (/(^|\.)scale$/.test(k) && isRawTensor(v) && sameShape(v.shape, [1])) return 'static';
    if (isQuantizedRaw(v) && v.shape.length === 4) return 'static';
  }
  return 'dynamic';
}

const perChannel = (sd: TorchStateDict): boolean =>
  [...sd.values()].some((v) => {
    const w = Array.isArray(v) ? v[0] : v;
    return isQuantizedRaw(w) && w.quantizer.scheme === 'per_channel_affine';
  });

export interface LoadQuantizedPthOptions {
  /** how the file's model was quantized; default: read from the file (a quantized input stub means static) */
  mode?: 'static' | 'dynamic';
}

/**
 * Loads torch.save(qmodel.state_dict()) of a torch.ao quantized model over a fresh graft float model
 * of the same architecture: quantizes its structure the way the file says (dynamic: the Linear layers
 * the file holds packed; static: fused, prepared and converted, no calibration) and loads the file's
 * int8 weights and qparams. Returns the quantized model (for static, a new module).
 */
export function loadQuantizedPth(path: string, floatModel: Module, o: LoadQuantizedPthOptions = {}): Module {
  if (!existsSync(path)) throw new CheckpointError(path, 'no such file');
  const sd = readPth(path);
  if (!(sd instanceof Map))
    throw new CheckpointError(
      path,
      'the file holds no state dict',
      'in PyTorch, torch.save(qmodel.state_dict(), path)',
    );
  const mode = o.mode ?? fileMode(sd);
  const channel = perChannel(sd);
  floatModel.eval();
  let model: Module;
  if (mode === 'dynamic') {
    const linears = [...floatModel.namedModules()].filter(([n, m]) => n !== '' && m instanceof Linear).map(([n]) => n);
    // Linear layers the file holds in float stay float (any of torch's quantized layouts counts)
    const int8 = (n: string) =>
      sd.has(`${n}._packed_params._packed_params`) ||
      isQuantizedRaw(sd.get(`${n}._packed_params.weight`)) ||
      isQuantizedRaw(sd.get(`${n}.weight`));
    const exclude = linears.filter((n) => !int8(n));
    quantizeDynamic(floatModel, { perChannel: channel, ...(exclude.length ? { exclude } : {}) });
    model = floatModel;
  } else {
    // uncalibrated observers give placeholder qparams; the file's replace them
    model = convert(prepare(floatModel, { backend: channel ? 'fbgemm' : 'qnnpack', activation: 'minmax' }));
    setSpec(model, { mode: 'static', backend: channel ? 'fbgemm' : 'qnnpack', activation: 'minmax' });
  }
  loadTorchQuantizedStateDict(model, sd, path);
  return model.eval();
}
