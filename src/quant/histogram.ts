// HistogramObserver as torch.ao.quantization's (1.13): a 2048-bin histogram of everything seen,
// rebinned as the range grows, and qparams from the min / max that minimise the L2 error of
// 8-bit quantization (the non-linear search of caffe2's NormMinimization). Each step repeats
// torch's tensor ops and Python's float arithmetic in the same order, quirks included (histc's
// range is int(min)..int(max)), so the qparams equal PyTorch's.
import { QuantError } from '../errors.ts';
import { arange, aten, noGrad, type Tensor, tensor, unary, zeros } from '../tensor/index.ts';
import { Observer, type ObserverFactory, type ObserverOptions } from './observer.ts';

export interface HistogramOptions extends ObserverOptions {
  bins?: number;
  upsampleRate?: number;
}

const f32 = Math.fround;

export class HistogramObserver extends Observer {
  readonly bins: number;
  readonly upsampleRate: number;
  readonly dstNbins: number;
  histogram: Tensor;
  minVal: Tensor;
  maxVal: Tensor;

  constructor(o: HistogramOptions = {}) {
    super(o, 'per_tensor_affine');
    if (this.perChannel) throw new QuantError('HistogramObserver is per-tensor only');
    this.bins = o.bins ?? 2048;
    this.upsampleRate = o.upsampleRate ?? 128;
    this.dstNbins = 256;
    this.histogram = this.registerBuffer('histogram', zeros([this.bins]));
    this.minVal = this.registerBuffer('min_val', tensor(Number.POSITIVE_INFINITY));
    this.maxVal = this.registerBuffer('max_val', tensor(Number.NEGATIVE_INFINITY));
  }

  observe(xOrig: Tensor): void {
    if (xOrig.numel() === 0) return;
    const x = xOrig.detach().float();
    const lo0 = this.minVal.item();
    const hi0 = this.maxVal.item();
    if (lo0 === hi0 || (lo0 === Number.POSITIVE_INFINITY && hi0 === Number.NEGATIVE_INFINITY)) {
      const [lo, hi] = aten('aminmax')(x) as [Tensor, Tensor];
      this.minVal.copy_(lo);
      this.maxVal.copy_(hi);
      this.histogram.copy_(aten('histc')(x, this.bins, Math.trunc(lo.item()), Math.trunc(hi.item())));
      return;
    }
    const [newMin, newMax] = aten('aminmax')(x) as [Tensor, Tensor];
    const cmin = newMin.minimum(this.minVal);
    let cmax = newMax.maximum(this.maxVal);
    // _adjust_min_max
    const histBinWidth = this.maxVal.sub(this.minVal).div(this.bins * this.upsampleRate);
    const downsampleRate = Math.trunc(unary('ceil', cmax.sub(cmin).div(histBinWidth.mul(this.bins))).item());
    const e = histBinWidth.mul(this.bins).mul(downsampleRate).sub(cmax.sub(cmin));
    cmax = cmax.add(e);
    const startIdx = Math.trunc(unary('round', this.minVal.sub(cmin).div(histBinWidth)).item());
    let combined: Tensor = aten('histc')(x, this.bins, Math.trunc(cmin.item()), Math.trunc(cmax.item()));
    if (cmin.item() === this.minVal.item() && cmax.item() === this.maxVal.item())
      combined = combined.add(this.histogram);
    else combined = this.#combine(combined, downsampleRate, startIdx);
    this.histogram.copy_(combined);
    this.minVal.copy_(cmin);
    this.maxVal.copy_(cmax);
  }

  // _combine_histograms: the old histogram upsampled, placed in the new range, integrated and resampled
  #combine(orig: Tensor, downsampleRate: number, startIdx: number): Tensor {
    const n = this.bins;
    const up = this.upsampleRate;
    const upsampled = aten('repeat_interleave', 'self_int')(this.histogram, up);
    const withRange = zeros([n * downsampleRate]);
    aten('slice', 'Tensor')(withRange, 0, startIdx, n * up + startIdx, 1).copy_(upsampled);
    const integral = aten('slice', 'Tensor')(
      aten('cumsum')(withRange, 0, 7 /* float64 */),
      0,
      downsampleRate - 1,
      undefined,
      downsampleRate,
    ) as Tensor;
    const shifted = zeros([n]);
    aten('slice', 'Tensor')(shifted, 0, 1, n, 1).copy_(aten('slice', 'Tensor')(integral, 0, 0, -1, 1));
    const interpolated = integral.sub(shifted).div(up);
    return orig.add(interpolated.float());
  }

  calculateQparams(): { scale: Tensor; zeroPoint: Tensor } {
    if (this.minVal.item() === Number.POSITIVE_INFINITY && this.maxVal.item() === Number.NEGATIVE_INFINITY)
      return { scale: tensor([1]), zeroPoint: tensor([0], { dtype: 'int64' }) };
    return noGrad(() => {
      const [lo, hi] = this.#search();
      return this.qparamsFromMinMax(lo, hi);
    });
  }

  // _non_linear_param_search: shrink [start_bin, end_bin] from the side with less mass while the
  // L2 quantization error keeps falling
  #search(): [Tensor, Tensor] {
    const binWidth = this.maxVal.sub(this.minVal).div(this.bins);
    const total = this.histogram.sum().item();
    const cSum = aten('cumsum')(this.histogram, 0, undefined).data() as Float32Array;
    const stepsize = 1e-5;
    let alpha = 0;
    let beta = 1;
    let startBin = 0;
    let endBin = this.bins - 1;
    let normMin = Number.POSITIVE_INFINITY;
    while (alpha < beta) {
      const nextAlpha = alpha + stepsize;
      const nextBeta = beta - stepsize;
      let l = startBin;
      let r = endBin;
      // a float32 tensor compared with a Python float: both sides in float32
      while (l < endBin && cSum[l]! < f32(nextAlpha * total)) l++;
      while (r > startBin && cSum[r]! > f32(nextBeta * total)) r--;
      let nextStart = startBin;
      let nextEnd = endBin;
      if (l - startBin > endBin - r) {
        nextStart = l;
        alpha = nextAlpha;
      } else {
        nextEnd = r;
        beta = nextBeta;
      }
      if (nextStart === startBin && nextEnd === endBin) continue;
      const norm = this.#quantizationError(nextStart, nextEnd);
      if (norm > normMin) break;
      normMin = norm;
      startBin = nextStart;
      endBin = nextEnd;
    }
    return [this.minVal.add(binWidth.mul(startBin)), this.minVal.add(binWidth.mul(endBin + 1))];
  }

  // _compute_quantization_error, op for op
  #quantizationError(nextStart: number, nextEnd: number): number {
    const bins = this.bins;
    const dst = this.dstNbins;
    const binWidth = (this.maxVal.item() - this.minVal.item()) / bins;
    const dstBinWidth = (binWidth * (nextEnd - nextStart + 1)) / dst;
    if (dstBinWidth === 0) return 0;
    const srcBin = arange(bins);
    const srcBegin = srcBin.sub(nextStart).mul(binWidth);
    const srcEnd = srcBegin.add(binWidth);
    const dstOfBegin = aten('div', 'Scalar_mode')(srcBegin, dstBinWidth, 'floor').clamp(0, dst - 1) as Tensor;
    const dstOfBeginCenter = dstOfBegin.add(0.5).mul(dstBinWidth);
    const dstOfEnd = aten('div', 'Scalar_mode')(srcEnd, dstBinWidth, 'floor').clamp(0, dst - 1) as Tensor;
    const density = this.histogram.div(binWidth);
    const getNorm = (b: Tensor, e: Tensor): Tensor => density.mul(e.mul(e).mul(e).sub(b.mul(b).mul(b)).div(3));
    let norm = zeros([bins]);
    norm = norm.add(getNorm(srcBegin.sub(dstOfBeginCenter), aten('ones')([bins]).mul(dstBinWidth / 2)));
    norm = norm.add(
      dstOfEnd
        .sub(dstOfBegin)
        .sub(1)
        .mul(getNorm(tensor(-dstBinWidth / 2), tensor(dstBinWidth / 2))),
    );
    const dstOfEndCenter = dstOfEnd.mul(dstBinWidth).add(dstBinWidth / 2);
    norm = norm.add(getNorm(tensor(-dstBinWidth / 2), srcEnd.sub(dstOfEndCenter)));
    return norm.sum().item();
  }
}

export const histogram =
  (o: HistogramOptions = {}): ObserverFactory =>
  () =>
    new HistogramObserver(o);
