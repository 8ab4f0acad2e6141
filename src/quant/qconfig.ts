// QConfigs: which observer makes activation qparams and which makes weight qparams, as
// torch.ao.quantization's presets (get_default_qconfig, default_dynamic_qconfig, ...).
import { QuantError } from '../errors.ts';
import { histogram } from './histogram.ts';
import { minMax, type ObserverFactory, perChannelMinMax } from './observer.ts';

export interface QConfig {
  activation: ObserverFactory;
  weight: ObserverFactory;
}

/** The backends torch names qconfigs after; 'x86' is fbgemm's settings. */
export type Backend = 'fbgemm' | 'x86' | 'qnnpack' | 'onednn';
export type ActivationObserver = 'histogram' | 'minmax';

/**
 * Static qconfig as torch's get_default_qconfig(backend): HistogramObserver activations
 * (reduce_range on fbgemm / x86), per-channel symmetric qint8 weights (per-tensor on qnnpack).
 * activation 'minmax' swaps in MinMaxObserver with the same range.
 */
export function defaultQconfig(backend: Backend = 'fbgemm', activation: ActivationObserver = 'histogram'): QConfig {
  const reduceRange = backend === 'fbgemm' || backend === 'x86';
  if (!['fbgemm', 'x86', 'qnnpack', 'onednn'].includes(backend))
    throw new QuantError(`no qconfig for backend '${backend}'`, 'use fbgemm, x86, qnnpack or onednn');
  const act = activation === 'histogram' ? histogram({ reduceRange }) : minMax({ reduceRange });
  const weight =
    backend === 'qnnpack'
      ? minMax({ dtype: 'qint8', qscheme: 'per_tensor_symmetric' })
      : perChannelMinMax({ dtype: 'qint8', qscheme: 'per_channel_symmetric' });
  return { activation: act, weight };
}

/** torch's default_dynamic_qconfig (per-tensor) or per_channel_dynamic_qconfig weights. */
export function dynamicQconfig(perChannel = false): QConfig {
  return {
    activation: minMax({ dtype: 'quint8' }),
    weight: perChannel
      ? perChannelMinMax({ dtype: 'qint8', qscheme: 'per_channel_symmetric' })
      : minMax({ dtype: 'qint8', qscheme: 'per_tensor_symmetric' }),
  };
}
