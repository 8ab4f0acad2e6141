// ATen -> ONNX: linear algebra, convolution, pooling, normalisation, embedding, reductions.
import { type Converter, type Cx, isFloat } from './onnx_context.ts';
import { float, int, ints } from './onnx_graph.ts';

function linear(cx: Cx): void {
  const g = cx.g;
  if (cx.rank(0) === 2) {
    const ins = [cx.in(0), cx.in(1)];
    if (cx.has(2)) ins.push(cx.in(2));
    cx.set(g.op('Gemm', ins, { transB: int(1) }));
    return;
  }
  let y = g.op('MatMul', [cx.in(0), g.op('Transpose', [cx.in(1)], { perm: ints([1, 0]) })]);
  if (cx.has(2)) y = g.op('Add', [y, cx.in(2)]);
  cx.set(y);
}

function addmm(cx: Cx): void {
  const attrs = { alpha: float(cx.arg<number>(4, 1)), beta: float(cx.arg<number>(3, 1)) };
  cx.set(cx.g.op('Gemm', [cx.in(1), cx.in(2), cx.in(0)], attrs));
}

const matmul: Converter = (cx) => cx.set(cx.g.op('MatMul', [cx.in(0), cx.in(1)]));

/** conv1d / conv2d (int padding or 'same' / 'valid'), groups and dilation as PyTorch. */
function conv(spatial: number): Converter {
  return (cx) => {
    const k = cx.value(1).shape.slice(2);
    const list = (v: unknown, d: number): number[] =>
      Array.isArray(v) ? (v.length === 1 && spatial > 1 ? Array(spatial).fill(v[0]) : v) : Array(spatial).fill(v ?? d);
    const stride = list(cx.arg(3, 1), 1);
    const dilation = list(cx.arg(5, 1), 1);
    const padArg = cx.arg<unknown>(4, 0);
    let pads: number[];
    if (padArg === 'valid') pads = Array(2 * spatial).fill(0);
    else if (padArg === 'same') {
      // as PyTorch: the total padding split with the extra element at the end
      const total = k.map((kk, i) => dilation[i]! * (kk - 1));
      pads = [...total.map((t) => Math.floor(t / 2)), ...total.map((t) => t - Math.floor(t / 2))];
    } else {
      const p = list(padArg, 0);
      pads = [...p, ...p];
    }
    const ins = [cx.in(0), cx.in(1)];
    if (cx.has(2)) ins.push(cx.in(2));
    const attrs = {
      kernel_shape: ints(k),
      strides: ints(stride),
      pads: ints(pads),
      dilations: ints(dilation),
      group: int(cx.arg<number>(6, 1)),
    };
    cx.set(cx.g.op('Conv', ins, attrs));
  };
}

/** A tensor of `n` copies of v in the dtype of argument i (missing affine weights). */
const filledLike = (cx: Cx, v: number, n: number, i: number): string =>
  cx.g.constant(Array(n).fill(v), cx.dtype(i), [n]);

function batchNorm(cx: Cx): void {
  if (cx.arg<boolean>(5)) cx.fail('batch_norm in training mode: export the model in eval mode (model.eval())');
  const c = cx.value(0).shape[1]!;
  const scale = cx.has(1) ? cx.in(1) : filledLike(cx, 1, c, 0);
  const bias = cx.has(2) ? cx.in(2) : filledLike(cx, 0, c, 0);
  if (!cx.has(3) || !cx.has(4)) cx.fail('batch_norm without running statistics');
  const attrs = { epsilon: float(cx.arg<number>(7, 1e-5)) };
  cx.set(cx.g.op('BatchNormalization', [cx.in(0), scale, bias, cx.in(3), cx.in(4)], attrs));
}

function layerNorm(cx: Cx): void {
  const g = cx.g;
  const shape = cx.arg<number[]>(1);
  const eps = cx.arg<number>(4, 1e-5);
  const n = shape.reduce((a, b) => a * b, 1);
  const axis = -shape.length;
  if (g.opset >= 17) {
    const scale = cx.has(2) ? cx.in(2) : g.constant(Array(n).fill(1), cx.dtype(0), shape);
    const ins = [cx.in(0), scale];
    if (cx.has(3)) ins.push(cx.in(3));
    cx.set(g.op('LayerNormalization', ins, { axis: int(axis), epsilon: float(eps) }));
    return;
  }
  const axes = ints(Array.from({ length: shape.length }, (_, i) => i - shape.length));
  const x = cx.in(0);
  const d = g.op('Sub', [x, g.op('ReduceMean', [x], { axes })]);
  const variance = g.op('ReduceMean', [g.op('Mul', [d, d])], { axes });
  let y = g.op('Div', [d, g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps, cx.dtype(0))])])]);
  if (cx.has(2)) y = g.op('Mul', [y, cx.in(2)]);
  if (cx.has(3)) y = g.op('Add', [y, cx.in(3)]);
  cx.set(y);
}

/** group_norm as PyTorch's exporter: InstanceNormalization over [N, groups, -1], then the affine. */
function groupNorm(cx: Cx): void {
  const g = cx.g;
  const groups = cx.arg<number>(1);
  const dt = cx.dtype(0);
  const x = cx.in(0);
  const grouped = g.op('Reshape', [x, g.i64([0, groups, -1])]);
  const ones = g.constant(Array(groups).fill(1), dt, [groups]);
  const zeros = g.constant(Array(groups).fill(0), dt, [groups]);
  const normed = g.op('InstanceNormalization', [grouped, ones, zeros], { epsilon: float(cx.arg<number>(4, 1e-5)) });
  let y = g.op('Reshape', [normed, g.op('Shape', [x])]);
  const trailing = g.i64(Array.from({ length: cx.rank(0) - 2 }, (_, i) => i + 1));
  if (cx.has(2)) y = g.op('Mul', [y, g.op('Unsqueeze', [cx.in(2), trailing])]);
  if (cx.has(3)) y = g.op('Add', [y, g.op('Unsqueeze', [cx.in(3), trailing])]);
  cx.set(y);
}

const pair = (v: unknown, d: number): number[] => {
  if (Array.isArray(v)) return v.length === 1 ? [v[0], v[0]] : v;
  const n = typeof v === 'number' ? v : d;
  return [n, n];
};

function maxPool2d(cx: Cx): void {
  const k = pair(cx.arg(1), 1);
  const s = cx.arg<number[]>(2, []);
  const p = pair(cx.arg(3, 0), 0);
  const attrs = {
    kernel_shape: ints(k),
    strides: ints(s.length ? pair(s, 1) : k),
    pads: ints([...p, ...p]),
    dilations: ints(pair(cx.arg(4, 1), 1)),
    ceil_mode: int(cx.arg<boolean>(5, false) ? 1 : 0),
  };
  cx.set(cx.g.op('MaxPool', [cx.in(0)], attrs));
}

function avgPool2d(cx: Cx): void {
  if (cx.arg(6) !== undefined) cx.fail('divisor_override');
  const k = pair(cx.arg(1), 1);
  const s = cx.arg<number[]>(2, []);
  const p = pair(cx.arg(3, 0), 0);
  const attrs = {
    kernel_shape: ints(k),
    strides: ints(s.length ? pair(s, 1) : k),
    pads: ints([...p, ...p]),
    ceil_mode: int(cx.arg<boolean>(4, false) ? 1 : 0),
    count_include_pad: int(cx.arg<boolean>(5, true) ? 1 : 0),
  };
  cx.set(cx.g.op('AveragePool', [cx.in(0)], attrs));
}

/** The [out, in] matrix of adaptive average pooling along one axis (PyTorch's bins). */
function binMatrix(inSize: number, outSize: number): number[] {
  const m = Array(outSize * inSize).fill(0);
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    for (let j = start; j < end; j++) m[i * inSize + j] = 1 / (end - start);
  }
  return m;
}

function adaptivePool(max: boolean): Converter {
  return (cx) => {
    const g = cx.g;
    const [h, w] = cx.value(0).shape.slice(-2) as [number, number];
    const [oh, ow] = pair(cx.arg(1), 1) as [number, number];
    if (oh === 1 && ow === 1) {
      cx.set(g.op(max ? 'GlobalMaxPool' : 'GlobalAveragePool', [cx.in(0)]));
      return;
    }
    if (h % oh === 0 && w % ow === 0) {
      const k = [h / oh, w / ow];
      cx.set(g.op(max ? 'MaxPool' : 'AveragePool', [cx.in(0)], { kernel_shape: ints(k), strides: ints(k) }));
      return;
    }
    if (max) cx.fail(`output ${oh}x${ow} does not divide the input ${h}x${w}`);
    // uneven bins: two matrix products with the averaging matrices (exact bins, any sizes)
    const dt = cx.dtype(0);
    const rows = g.constant(binMatrix(h, oh), dt, [oh, h]);
    const colsT = binMatrix(w, ow);
    const cols = g.constant(
      Array.from({ length: w * ow }, (_, i) => colsT[(i % ow) * w + Math.floor(i / ow)]!),
      dt,
      [w, ow],
    );
    cx.set(g.op('MatMul', [rows, g.op('MatMul', [cx.in(0), cols])]));
  };
}

const gather =
  (table: number, index: number, axisArg?: number): Converter =>
  (cx) => {
    const axis = axisArg === undefined ? 0 : cx.axis(cx.arg<number>(axisArg), cx.rank(table));
    cx.set(cx.g.op('Gather', [cx.in(table), cx.in(index)], { axis: int(axis) }));
  };

/** mean / sum / amax over dims (all when none), keepdim, with the traced result's dtype. */
function reduce(opType: string): Converter {
  return (cx) => {
    const g = cx.g;
    const r = cx.rank(0);
    // mean(self, dtype) / sum(self, dtype) reduce everything; the .dim overloads (and amax) name dims
    const named = cx.node.overload.startsWith('dim') || cx.node.op === 'aten::amax';
    const dimsArg = named ? cx.arg<number[] | number | null>(1, null) : null;
    const dims = dimsArg === null || (Array.isArray(dimsArg) && dimsArg.length === 0) ? null : [dimsArg].flat();
    const keep = dims === null ? 0 : cx.arg<boolean>(2, false) ? 1 : 0;
    const dt = cx.out().dtype;
    const x = isFloat(dt) ? cx.inAs(0, dt) : cx.in(0);
    const axes = dims?.map((d) => cx.axis(d, r));
    let y: string;
    // ReduceSum takes its axes as an input from opset 13, the others as an attribute up to 17
    if (opType === 'ReduceSum') y = g.op(opType, axes ? [x, g.i64(axes)] : [x], { keepdims: int(keep) });
    else y = g.op(opType, [x], axes ? { axes: ints(axes), keepdims: int(keep) } : { keepdims: int(keep) });
    cx.set(cx.cast(y, isFloat(dt) ? dt : cx.dtype(0), dt));
  };
}

function argmax(cx: Cx): void {
  const g = cx.g;
  const dim = cx.arg<number | null>(1, null);
  if (dim === null) {
    const flat = g.op('Reshape', [cx.in(0), g.i64([-1])]);
    cx.set(g.op('ArgMax', [flat], { axis: int(0), keepdims: int(0) }));
  } else
    cx.set(
      g.op('ArgMax', [cx.in(0)], {
        axis: int(cx.axis(dim, cx.rank(0))),
        keepdims: int(cx.arg<boolean>(2, false) ? 1 : 0),
      }),
    );
}

function cumsum(cx: Cx): void {
  const dt = cx.out().dtype;
  const axis = cx.g.scalar(cx.axis(cx.arg<number>(1), cx.rank(0)), 'int64');
  cx.set(cx.g.op('CumSum', [cx.inAs(0, dt), axis]));
}

export const NN_OPS: Record<string, Converter> = {
  'aten::linear': linear,
  'aten::addmm': addmm,
  'aten::matmul': matmul,
  'aten::mm': matmul,
  'aten::bmm': matmul,
  'aten::conv1d': conv(1),
  'aten::conv2d': conv(2),
  'aten::batch_norm': batchNorm,
  'aten::layer_norm': layerNorm,
  'aten::group_norm': groupNorm,
  'aten::max_pool2d': maxPool2d,
  'aten::avg_pool2d': avgPool2d,
  'aten::adaptive_avg_pool2d': adaptivePool(false),
  'aten::adaptive_max_pool2d': adaptivePool(true),
  'aten::embedding': gather(0, 1),
  'aten::index_select': gather(0, 2, 1),
  'aten::gather': (cx) =>
    cx.set(cx.g.op('GatherElements', [cx.in(0), cx.in(2)], { axis: int(cx.axis(cx.arg<number>(1), cx.rank(0))) })),
  'aten::mean': reduce('ReduceMean'),
  'aten::sum': reduce('ReduceSum'),
  'aten::amax': reduce('ReduceMax'),
  'aten::argmax': argmax,
  'aten::cumsum': cumsum,
};
