// graft's quant: int8 quantization on libtorch's quantized kernels, with torch.ao.quantization's
// observers, qconfigs and module semantics.
export { engines, livePacked, Packed, setEngine } from '../tensor/quant_native.ts';
export { type DynamicOptions, DynamicQuantizedLinear, type DynamicResult, quantizeDynamic } from './dynamic.ts';
export {
  defaultQatQconfig,
  enableFakeQuant,
  enableObserver,
  type FakeQuantFactory,
  FusedMovingAvgObsFakeQuantize,
  fusedFakeQuant,
  MovingAverageMinMaxObserver,
  type MovingAverageOptions,
  MovingAveragePerChannelMinMaxObserver,
  type QatQConfig,
} from './fake_quant.ts';
export {
  ConvBn2d,
  ConvBnReLU2d,
  ConvReLU2d,
  fuseConvBn,
  fuseConvBnWeights,
  fuseModules,
  LinearReLU,
} from './fuse.ts';
export { HistogramObserver, type HistogramOptions, histogram } from './histogram.ts';
export {
  isQuantized,
  loadQuantizedStateDict,
  QuantizedModule,
  type QuantSpec,
  releasePacked,
  specOf,
} from './module.ts';
export {
  MinMaxObserver,
  minMax,
  Observer,
  type ObserverFactory,
  type ObserverOptions,
  PerChannelMinMaxObserver,
  perChannelMinMax,
  type QScheme,
  qRange,
} from './observer.ts';
export { hasTorchLayout, quantizedRecord, saveQuantizedPth, type TorchLayoutModule, toTorchStateDict } from './pth.ts';
export { type LoadQuantizedPthOptions, loadQuantizedPth, loadTorchQuantizedStateDict } from './pth_read.ts';
export { convertQat, freezeBnStats, isQatPrepared, type PrepareQatOptions, prepareQat } from './qat.ts';
export { isQatModule, QatConv2d, QatConvBn2d, QatLinear, type QatModule } from './qat_modules.ts';
export { type ActivationObserver, type Backend, defaultQconfig, dynamicQconfig, type QConfig } from './qconfig.ts';
export { DeQuantize, QFunctional, Quantize, QuantizedConv2d, QuantizedLinear } from './qmodules.ts';
export {
  dequantize,
  fromIntRepr,
  intRepr,
  type QDType,
  type QParams,
  qparamsOf,
  quantize,
} from './qtensor.ts';
export {
  DeQuantStub,
  FloatFunctional,
  QuantizableBasicBlock,
  QuantizableBottleneck,
  QuantizableCifarNet,
  QuantizableModel,
  QuantizableResNet,
  QuantStub,
  QuantWrapper,
  quantizable,
} from './quantizable.ts';
export { loadQuantized, readSpec, saveQuantized, stateDictBytes } from './save.ts';
export { calibrate, convert, type PrepareOptions, prepare, quantizeStatic } from './static.ts';
