// Dynamic int8 quantization of Linear layers (torch.ao.quantization.quantize_dynamic): weights
// int8 ahead of time, activations quantized per batch inside quantized::linear_dynamic.
import { QuantError } from '../errors.ts';
import { Linear, type Module } from '../nn/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { type Packed, qcall } from '../tensor/quant_native.ts';
import { didYouMean } from '../util/spelling.ts';
import { QuantizedModule, setSpec } from './module.ts';
import { dynamicQconfig, type QConfig } from './qconfig.ts';
import {
  fromIntRepr,
  intRepr,
  type QParams,
  qparamsFromTensors,
  qparamsOf,
  qparamsToTensors,
  quantize,
} from './qtensor.ts';

/**
 * nn.quantized.dynamic.Linear: y = linear_dynamic(x, packed int8 weight) + bias in float. The state
 * dict holds the int8 weight (`weight`), its qparams (`weight_scale`, `weight_zero_point`) and the
 * float `bias`; the packed weight is rebuilt from them after loading.
 */
export class DynamicQuantizedLinear extends QuantizedModule {
  readonly inFeatures: number;
  readonly outFeatures: number;
  weight!: Tensor;
  weightScale!: Tensor;
  weightZeroPoint!: Tensor;
  bias: Tensor | undefined;
  #packed: Packed | undefined;

  constructor(inFeatures: number, outFeatures: number, qweight: Tensor, bias: Tensor | undefined) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.setWeightBias(qweight, bias);
  }

  /** From a float Linear with the qconfig's weight observer (torch's from_float). */
  static fromFloat(m: Linear, qconfig: QConfig = dynamicQconfig()): DynamicQuantizedLinear {
    const obs = qconfig.weight();
    if (obs.dtype !== 'qint8') throw new QuantError('dynamic quantization needs a qint8 weight observer');
    const w = m.weight.detach().float();
    obs.call(w);
    const qw = quantize(w, obs.qparams(), 'qint8');
    return new DynamicQuantizedLinear(m.inFeatures, m.outFeatures, qw, m.bias?.detach().float());
  }

  /** Sets the quantized weight (a qint8 tensor) and float bias, and packs them. */
  setWeightBias(qweight: Tensor, bias: Tensor | undefined): void {
    const qp = qparamsOf(qweight);
    const { scale, zeroPoint } = qparamsToTensors(qp);
    this.weight = this.registerBuffer('weight', intRepr(qweight));
    this.weightScale = this.registerBuffer('weight_scale', scale);
    this.weightZeroPoint = this.registerBuffer('weight_zero_point', zeroPoint);
    this.bias = this.registerBuffer('bias', bias);
    this.repack();
  }

  /** The qint8 weight as a quantized tensor. */
  quantizedWeight(): Tensor {
    return fromIntRepr(this.weight, this.qparams());
  }

  qparams(): QParams {
    return qparamsFromTensors(this.weightScale, this.weightZeroPoint, 0);
  }

  repack(): void {
    this.releasePacked();
    this.#packed = qcall('quantized::linear_prepack', '', this.quantizedWeight(), this.bias);
  }

  forward(x: Tensor): Tensor {
    const dtype = x.dtype;
    const xf = dtype === 'float32' ? x : x.float();
    // nn.quantized.dynamic.Linear (version 4) asks for reduce_range on every engine
    if (!this.#packed) throw new QuantError('this quantized Linear was released', 'call repack() first');
    const y = qcall('quantized::linear_dynamic', '', xf, this.#packed, true) as Tensor;
    return dtype === 'float32' ? y : y.to(dtype);
  }

  releasePacked(): void {
    this.#packed?.free();
    this.#packed = undefined;
  }

  override extraRepr(): string {
    const qp = this.qparams();
    const q = qp.scheme === 'per_tensor' ? `scale=${qp.scale}, zero_point=${qp.zeroPoint}` : 'qscheme=per_channel';
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, dtype=qint8, ${q}`;
  }
}

export interface DynamicOptions {
  /** only qint8 (torch's float16 dynamic mode is not available) */
  dtype?: 'qint8';
  /** per-channel weight scales (torch's per_channel_dynamic_qconfig); default per-tensor */
  perChannel?: boolean;
  /** module names (dotted paths) whose Linear layers are quantized, themselves or below; default all */
  modules?: string[];
  /** module names to leave in float (the classifier head, for instance) */
  exclude?: string[];
}

export interface DynamicResult {
  /** the names of the Linear layers now quantized */
  quantized: string[];
  /** puts the float Linear layers back (and frees the quantized ones) */
  restore(): void;
}

/**
 * Replaces the model's Linear layers with DynamicQuantizedLinear, in place (torch's quantize_dynamic
 * with {nn.Linear} and inplace=True). Run it on a model in eval mode; it cannot train afterwards.
 */
export function quantizeDynamic(model: Module, o: DynamicOptions = {}): DynamicResult {
  if ((o.dtype ?? 'qint8') !== 'qint8')
    throw new QuantError(`dynamic quantization dtype '${o.dtype}' is not supported`, "use 'qint8'");
  const names = new Set([...model.namedModules()].map(([n]) => n));
  for (const n of [...(o.modules ?? []), ...(o.exclude ?? [])])
    if (!names.has(n)) {
      const near = didYouMean(n, names);
      throw new QuantError(
        `no module '${n}' in the model`,
        near ? `did you mean '${near}'?` : 'list them with `graft inspect`',
      );
    }
  const under = (n: string, roots: string[]) => roots.some((r) => r === '' || n === r || n.startsWith(`${r}.`));
  const qconfig = dynamicQconfig(o.perChannel ?? false);
  const targets = [...model.namedModules()].filter(
    ([n, m]) => m instanceof Linear && n !== '' && under(n, o.modules ?? ['']) && !under(n, o.exclude ?? []),
  );
  const swapped: [string, Module, DynamicQuantizedLinear][] = [];
  for (const [n, m] of targets) {
    const q = DynamicQuantizedLinear.fromFloat(m as Linear, qconfig);
    model.setSubmodule(n, q);
    swapped.push([n, m, q]);
  }
  model.eval();
  const { dtype: _, ...spec } = o;
  setSpec(model, { mode: 'dynamic', ...spec });
  return {
    quantized: targets.map(([n]) => n),
    restore() {
      for (const [n, m, q] of swapped) {
        model.setSubmodule(n, m);
        q.dispose();
      }
    },
  };
}
