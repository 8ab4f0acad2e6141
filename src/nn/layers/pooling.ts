// Max / average pooling, adaptive pooling and fastai's AdaptiveConcatPool2d.
import { cat, F, type Tensor } from '../../tensor/index.ts';
import { Module } from '../module.ts';
import { expectDims, type Pair, pair, tuple } from './_util.ts';

export interface MaxPoolOptions {
  /** default: the kernel size */
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  ceilMode?: boolean;
}

export class MaxPool2d extends Module {
  readonly kernelSize: Pair;
  readonly o: MaxPoolOptions;
  constructor(kernelSize: Pair, o: MaxPoolOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.o = o;
  }
  forward(x: Tensor): Tensor {
    return F.maxPool2d(x, this.kernelSize, this.o);
  }
  override extraRepr(): string {
    const py = (v: Pair) => (Array.isArray(v) ? tuple(v) : String(v));
    const o = this.o;
    return `kernel_size=${py(this.kernelSize)}, stride=${py(o.stride ?? this.kernelSize)}, padding=${py(o.padding ?? 0)}, dilation=${py(o.dilation ?? 1)}, ceil_mode=${o.ceilMode ? 'True' : 'False'}`;
  }
}

export interface AvgPoolOptions {
  stride?: Pair;
  padding?: Pair;
  ceilMode?: boolean;
  countIncludePad?: boolean;
  divisorOverride?: number;
}

export class AvgPool2d extends Module {
  readonly kernelSize: Pair;
  readonly o: AvgPoolOptions;
  constructor(kernelSize: Pair, o: AvgPoolOptions = {}) {
    super();
    this.kernelSize = kernelSize;
    this.o = o;
  }
  forward(x: Tensor): Tensor {
    return F.avgPool2d(x, this.kernelSize, this.o);
  }
  override extraRepr(): string {
    const py = (v: Pair) => (Array.isArray(v) ? tuple(v) : String(v));
    return `kernel_size=${py(this.kernelSize)}, stride=${py(this.o.stride ?? this.kernelSize)}, padding=${py(this.o.padding ?? 0)}`;
  }
}

/** An output size; null keeps the input's size in that dim (PyTorch's None). */
export type AdaptiveSize = number | [number | null, number | null];

function resolve(x: Tensor, size: AdaptiveSize, name: string): [number, number] {
  expectDims(name, x, [3, 4]);
  if (!Array.isArray(size)) return pair(size);
  return [size[0] ?? x.size(-2), size[1] ?? x.size(-1)];
}

const sizeRepr = (s: AdaptiveSize) => (Array.isArray(s) ? `(${s.map((v) => v ?? 'None').join(', ')})` : String(s));

export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: AdaptiveSize) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveAvgPool2d(x, resolve(x, this.outputSize, 'AdaptiveAvgPool2d'));
  }
  override extraRepr(): string {
    return `output_size=${sizeRepr(this.outputSize)}`;
  }
}

export class AdaptiveMaxPool2d extends Module {
  constructor(readonly outputSize: AdaptiveSize) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.adaptiveMaxPool2d(x, resolve(x, this.outputSize, 'AdaptiveMaxPool2d'));
  }
  override extraRepr(): string {
    return `output_size=${sizeRepr(this.outputSize)}`;
  }
}

/** fastai's head pooling: cat([adaptive max, adaptive avg], dim 1), so 2x the channels. */
export class AdaptiveConcatPool2d extends Module {
  readonly size: AdaptiveSize;
  ap: AdaptiveAvgPool2d;
  mp: AdaptiveMaxPool2d;
  constructor(size: AdaptiveSize = 1) {
    super();
    this.size = size;
    this.ap = this.registerModule('ap', new AdaptiveAvgPool2d(size));
    this.mp = this.registerModule('mp', new AdaptiveMaxPool2d(size));
  }
  forward(x: Tensor): Tensor {
    const m = this.mp.call(x);
    const a = this.ap.call(x);
    const out = cat([m, a], 1);
    m.dispose();
    a.dispose();
    return out;
  }
}
