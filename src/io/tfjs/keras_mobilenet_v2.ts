// Keras MobileNetV2 weight names and layouts -> torchvision's mobilenet_v2 state-dict keys.
// Keras: Conv1, expanded_conv_*, block_1..16_{expand,depthwise,project}[_BN], Conv_1[_bn];
// torchvision: features.0 .. features.18 (InvertedResidual blocks), classifier.1.
import type { RawTensor } from '../raw.ts';

/** Permutes a float32 RawTensor's axes (out axis i = in axis perm[i]). */
export function permuteRaw(t: RawTensor, perm: number[]): RawTensor {
  const src = new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
  const shape = perm.map((p) => t.shape[p]!);
  const inStrides = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const strides = perm.map((p) => inStrides[p]!);
  const out = new Float32Array(src.length);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let at = 0;
    for (let d = 0; d < shape.length; d++) at += idx[d] * strides[d]!;
    out[o] = src[at]!;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return { dtype: 'float32', shape, data: new Uint8Array(out.buffer) };
}

const BN: Record<string, string> = {
  gamma: 'weight',
  beta: 'bias',
  moving_mean: 'running_mean',
  moving_variance: 'running_var',
};

/** torchvision prefix of a Keras conv/BN layer name, or undefined when it is not part of the backbone. */
function prefixOf(layer: string): string | undefined {
  if (layer === 'Conv1') return 'features.0.0';
  if (layer === 'bn_Conv1') return 'features.0.1';
  if (layer === 'Conv_1') return 'features.18.0';
  if (layer === 'Conv_1_bn') return 'features.18.1';
  const first = /^expanded_conv_(depthwise|project)(_BN)?$/.exec(layer);
  if (first) {
    // block 0 has no expansion: conv.0 = depthwise ConvBNReLU, conv.1 = project, conv.2 = BN
    if (first[1] === 'depthwise') return first[2] ? 'features.1.conv.0.1' : 'features.1.conv.0.0';
    return first[2] ? 'features.1.conv.2' : 'features.1.conv.1';
  }
  const m = /^block_(\d+)_(expand|depthwise|project)(_BN)?$/.exec(layer);
  if (!m) return undefined;
  const f = `features.${Number(m[1]) + 1}.conv`;
  if (m[2] === 'expand') return m[3] ? `${f}.0.1` : `${f}.0.0`;
  if (m[2] === 'depthwise') return m[3] ? `${f}.1.1` : `${f}.1.0`;
  return m[3] ? `${f}.3` : `${f}.2`;
}

export interface KerasMapping {
  stateDict: Map<string, RawTensor>;
  /** Keras name -> torchvision key */
  renamed: [string, string][];
  /** Keras weights with no torchvision counterpart (e.g. a custom head) */
  unmapped: string[];
}

/** Maps Keras MobileNetV2 weights onto torchvision mobilenet_v2 keys, transposing kernels. */
export function kerasMobileNetV2ToTorchvision(weights: Map<string, RawTensor>): KerasMapping {
  const stateDict = new Map<string, RawTensor>();
  const renamed: [string, string][] = [];
  const unmapped: string[] = [];
  for (const [name, t] of weights) {
    const [layer, param] = name.split('/') as [string, string];
    const prefix = prefixOf(layer);
    if (!prefix) {
      unmapped.push(name);
      continue;
    }
    let key: string;
    let value: RawTensor;
    if (param === 'kernel') {
      key = `${prefix}.weight`;
      value = permuteRaw(t, [3, 2, 0, 1]); // HWIO -> OIHW
    } else if (param === 'depthwise_kernel') {
      key = `${prefix}.weight`;
      value = permuteRaw(t, [2, 3, 0, 1]); // H W C 1 -> C 1 H W
    } else if (param && BN[param]) {
      key = `${prefix}.${BN[param]}`;
      value = t;
    } else {
      unmapped.push(name);
      continue;
    }
    stateDict.set(key, value);
    renamed.push([name, key]);
  }
  return { stateDict, renamed, unmapped };
}
