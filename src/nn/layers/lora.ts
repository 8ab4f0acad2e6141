// LoraLinear: a linear layer plus a trainable low-rank update, as PEFT's lora.Linear:
// y = base(x) + lora_B(lora_A(dropout(x))) * scaling. The wrapped layer's weight and bias stay
// registered under their own names (`q_proj.weight`, not PEFT's `q_proj.base_layer.weight`), so
// ordinary checkpoints of the base model still load into the wrapped model.
import { ArgumentError, ShapeError } from '../../errors.ts';
import { type DType, noGrad, type Tensor, tidy } from '../../tensor/index.ts';
import * as init from '../init.ts';
import { Module } from '../module.ts';
import type { Parameter } from '../parameter.ts';
import { Dropout } from './activation.ts';
import { Identity, Linear } from './linear.ts';

export interface LoraLinearOptions {
  /** rank of the update (PEFT's r) */
  r: number;
  /** lora_alpha; the update is scaled by alpha / r (alpha / sqrt(r) with useRslora) */
  alpha: number;
  /** dropout on the adapter's input (PEFT's lora_dropout); 0 = none */
  dropout?: number;
  /** the base weight is stored [in, out] (transformers' Conv1D, GPT-2): PEFT's fan_in_fan_out */
  fanInFanOut?: boolean;
  /** rank-stabilised scaling alpha / sqrt(r) (PEFT's use_rslora) */
  useRslora?: boolean;
  /**
   * PEFT's init_lora_weights: true (default) = A kaiming-uniform(a = sqrt(5)), B zeros, so the
   * layer starts equal to the base; 'gaussian' = A ~ N(0, 1/r), B zeros; false = both keep
   * nn.Linear's default init (the layer starts different from the base: tests only).
   */
  init?: boolean | 'gaussian';
  /** adapter dtype; default float32 for a float16/bfloat16 base (PEFT's autocast_adapter_dtype), else the base's */
  dtype?: DType;
}

const HALF: ReadonlySet<DType> = new Set<DType>(['float16', 'bfloat16']);

/** A linear layer (nn.Linear or a Conv1D-style [in, out] layer) with a LoRA adapter. */
export class LoraLinear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly r: number;
  readonly loraAlpha: number;
  readonly scaling: number;
  readonly fanInFanOut: boolean;
  readonly useRslora: boolean;
  weight: Parameter;
  bias: Parameter | undefined;
  readonly lora_dropout: Module;
  readonly lora_A: Linear;
  readonly lora_B: Linear;
  /** the wrapped layer, called for the base output; not registered: its tensors are this module's */
  readonly base: Module;
  #merged = false;
  /** when true, forward is the base layer alone (PEFT's disable_adapter) */
  disabled = false;

  constructor(base: Module, o: LoraLinearOptions) {
    super();
    const { weight, bias } = baseTensors(base);
    if (!Number.isInteger(o.r) || o.r < 1) throw new ArgumentError(`LoRA rank r must be an integer >= 1, got ${o.r}`);
    if (!Number.isFinite(o.alpha)) throw new ArgumentError(`lora_alpha must be a number, got ${o.alpha}`);
    this.base = base;
    this.fanInFanOut = o.fanInFanOut ?? false;
    const [rows, cols] = weight.shape as [number, number];
    this.inFeatures = this.fanInFanOut ? rows : cols;
    this.outFeatures = this.fanInFanOut ? cols : rows;
    this.r = o.r;
    this.loraAlpha = o.alpha;
    this.useRslora = o.useRslora ?? false;
    this.scaling = this.useRslora ? o.alpha / Math.sqrt(o.r) : o.alpha / o.r;
    this.weight = this.registerParameter('weight', weight);
    this.bias = this.registerParameter('bias', bias);
    const p = o.dropout ?? 0;
    this.lora_dropout = this.registerModule('lora_dropout', p > 0 ? new Dropout(p) : new Identity());
    const dtype = o.dtype ?? (HALF.has(weight.dtype) ? 'float32' : weight.dtype);
    const f = { bias: false, dtype, device: weight.device };
    // nn.Linear's default init is PEFT's kaiming_uniform_(a=sqrt(5)) for A
    this.lora_A = this.registerModule('lora_A', new Linear(this.inFeatures, o.r, f));
    this.lora_B = this.registerModule('lora_B', new Linear(o.r, this.outFeatures, f));
    const how = o.init ?? true;
    if (how === 'gaussian') init.normal_(this.lora_A.weight, 0, 1 / o.r);
    if (how !== false) init.zeros_(this.lora_B.weight);
    // the new dropout and adapters follow the wrapped layer's mode (an eval model stays in eval)
    this.train(base.training);
  }

  /** True while the update is folded into weight (mergeLora). */
  get merged(): boolean {
    return this.#merged;
  }

  /** The adapters' dtype (float32 for a half-precision base by default). */
  get adapterDtype(): DType {
    return this.lora_A.weight.dtype;
  }

  forward(x: Tensor): Tensor {
    this.#syncBase();
    return tidy(() => {
      const result = this.base.call(x) as Tensor;
      if (this.#merged || this.disabled) return result;
      const dt = this.adapterDtype;
      const a = x.dtype === dt ? x : x.to(dt);
      const update = this.lora_B.call(this.lora_A.call(this.lora_dropout.call(a))).mul(this.scaling);
      // as PEFT: added in the promoted dtype, then cast back to the base output's
      const out = result.add(update);
      return out.dtype === result.dtype ? out : out.to(result.dtype);
    });
  }

  /** scaling * B A in the base weight's layout and dtype (PEFT's get_delta_weight). */
  deltaWeight(): Tensor {
    return noGrad(() =>
      tidy(() => {
        const d = this.lora_B.weight.matmul(this.lora_A.weight).mul(this.scaling);
        const laid = this.fanInFanOut ? d.transpose(0, 1) : d;
        return laid.to(this.weight.dtype).contiguous();
      }),
    );
  }

  /** Folds the update into weight: forward is then the base layer alone, as fast as without LoRA. */
  merge(): void {
    if (this.#merged) return;
    noGrad(() => tidy(() => void this.weight.add_(this.deltaWeight())));
    this.#merged = true;
  }

  /** Takes the update back out of weight (exact up to float rounding). */
  unmerge(): void {
    if (!this.#merged) return;
    noGrad(() => tidy(() => void this.weight.sub_(this.deltaWeight())));
    this.#merged = false;
  }

  /** The wrapped layer holding this module's weight and bias (merged or not, as it is now). */
  unwrap(): Module {
    this.#syncBase();
    this.base.training = this.training;
    return this.base;
  }

  // a parameter re-registered here (a dtype cast, a re-tie) must be the one the base layer uses
  #syncBase(): void {
    if (this.base.getParameter('weight') !== this.weight) this.base.registerParameter('weight', this.weight);
    if (this.bias && this.base.getParameter('bias') !== this.bias) this.base.registerParameter('bias', this.bias);
  }

  override extraRepr(): string {
    return (
      `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}, ` +
      `r=${this.r}, lora_alpha=${this.loraAlpha}, scaling=${this.scaling}` +
      (this.fanInFanOut ? ', fan_in_fan_out=True' : '') +
      (this.#merged ? ', merged=True' : '')
    );
  }
}

/** The weight [out, in] (or [in, out]) and optional bias of a linear layer, refusing anything else. */
function baseTensors(base: Module): { weight: Parameter; bias: Parameter | undefined } {
  if (!(base instanceof Module)) throw new ArgumentError('LoraLinear wraps a Module');
  const names = [...base.namedParameters({ recurse: false })].map(([n]) => n);
  const weight = base.getParameter('weight');
  const extra = names.filter((n) => n !== 'weight' && n !== 'bias');
  if (!weight || extra.length || [...base.children()].length)
    throw new ArgumentError(
      `LoRA wraps linear layers (a weight and an optional bias); ${base.constructor.name} has ${names.join(', ') || 'no parameters'}`,
      'target nn.Linear-style modules (q_proj, query, c_attn, ...)',
    );
  if (weight.ndim !== 2)
    throw new ShapeError(`LoRA needs a 2-d weight, ${base.constructor.name} has [${weight.shape}]`);
  return { weight, bias: base.getParameter('bias') };
}
