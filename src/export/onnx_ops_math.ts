// ATen -> ONNX: elementwise arithmetic, comparisons, activations, casts and identities.
import type { DType } from '../tensor/index.ts';
import { type Converter, type Cx, isFloat, promote } from './onnx_context.ts';
import { float } from './onnx_graph.ts';

/** The dtype a scalar operand takes next to a tensor of dtype d (as torch.result_type). */
const scalarWith = (d: DType, v: unknown): DType =>
  typeof v === 'number' && !Number.isInteger(v) && !isFloat(d) ? 'float32' : d;

/** Operand i as an ONNX name in dtype dt: a tensor argument cast, or a scalar argument as a constant. */
function operand(cx: Cx, i: number, dt: DType): string {
  if (cx.has(i)) return cx.inAs(i, dt);
  const v = cx.arg<number | boolean>(i);
  return cx.g.scalar(v, dt);
}

/** add / sub (with alpha), mul, div, Tensor and Scalar overloads: computed in the result dtype. */
const arith =
  (opType: string, reverse = false): Converter =>
  (cx) => {
    const dt = cx.out().dtype;
    const a = operand(cx, 0, dt);
    let b = operand(cx, 1, dt);
    const alpha = opType === 'Add' || opType === 'Sub' ? cx.arg<number>(2, 1) : 1;
    if (alpha !== 1) {
      if (reverse) {
        cx.set(cx.g.op('Sub', [b, cx.g.op('Mul', [a, cx.g.scalar(alpha, dt)])]));
        return;
      }
      b = cx.g.op('Mul', [b, cx.g.scalar(alpha, dt)]);
    }
    cx.set(cx.g.op(opType, reverse ? [b, a] : [a, b]));
  };

/** Comparisons and logical ops: operands promoted together, the result bool. */
const compare =
  (opType: string, negate = false): Converter =>
  (cx) => {
    const d0 = cx.dtype(0);
    const dt = cx.has(1) ? promote(d0, cx.dtype(1)) : scalarWith(d0, cx.arg(1));
    let r = cx.g.op(opType, [operand(cx, 0, dt), operand(cx, 1, dt)]);
    if (negate) r = cx.g.op('Not', [r]);
    cx.set(r);
  };

const logical =
  (opType: string): Converter =>
  (cx) =>
    cx.set(cx.g.op(opType, [operand(cx, 0, 'bool'), operand(cx, 1, 'bool')]));

/** One ONNX op on the (first) input; float ops on an integer tensor compute in the result dtype. */
const unary =
  (...opTypes: string[]): Converter =>
  (cx) => {
    const dt = cx.out().dtype;
    let x = isFloat(dt) ? cx.inAs(0, dt) : cx.in(0);
    for (const t of opTypes) x = cx.g.op(t, [x]);
    cx.set(x);
  };

const identity: Converter = (cx) => cx.set(cx.in(0));
/** .to(dtype), .type_as(...): a Cast to the traced result's dtype. */
const castToOut: Converter = (cx) => cx.set(cx.inAs(0, cx.out().dtype));

function clip(cx: Cx, lo: number | undefined, hi: number | undefined): void {
  const dt = cx.out().dtype;
  const g = cx.g;
  cx.set(
    g.op('Clip', [cx.inAs(0, dt), lo === undefined ? '' : g.scalar(lo, dt), hi === undefined ? '' : g.scalar(hi, dt)]),
  );
}

function gelu(cx: Cx): void {
  const g = cx.g;
  const dt = cx.out().dtype;
  const x = cx.in(0);
  const c = (v: number) => g.scalar(v, dt);
  let inner: string;
  if (cx.arg<string>(1, 'none') === 'tanh') {
    // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
    const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
    const u = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, c(0.044715)])]), c(Math.sqrt(2 / Math.PI))]);
    inner = g.op('Tanh', [u]);
  } else inner = g.op('Erf', [g.op('Mul', [x, c(Math.SQRT1_2)])]);
  cx.set(g.op('Mul', [g.op('Mul', [x, c(0.5)]), g.op('Add', [inner, c(1)])]));
}

function where(cx: Cx): void {
  const dt = cx.out().dtype;
  cx.set(cx.g.op('Where', [operand(cx, 0, 'bool'), operand(cx, 1, dt), operand(cx, 2, dt)]));
}

function maskedFill(cx: Cx): void {
  const dt = cx.out().dtype;
  cx.set(cx.g.op('Where', [operand(cx, 1, 'bool'), operand(cx, 2, dt), cx.inAs(0, dt)]));
}

function pow(cx: Cx): void {
  const dt = cx.out().dtype;
  if (!cx.has(1) && cx.arg<number>(1) === 2) {
    const x = cx.inAs(0, dt);
    cx.set(cx.g.op('Mul', [x, x]));
  } else cx.set(cx.g.op('Pow', [operand(cx, 0, dt), operand(cx, 1, dt)]));
}

function dropout(cx: Cx): void {
  if (cx.arg<boolean>(2, false) && cx.arg<number>(1, 0.5) > 0)
    cx.fail('dropout in training mode: export the model in eval mode (model.eval())');
  cx.set(cx.in(0));
}

function softmax(opType: string): Converter {
  return (cx) => {
    const dt = cx.out().dtype;
    const axis = cx.axis(cx.arg<number>(1), cx.rank(0));
    cx.set(cx.g.op(opType, [cx.inAs(0, dt)], { axis: { t: 'i', v: axis } }));
  };
}

function silu(cx: Cx): void {
  const x = cx.in(0);
  cx.set(cx.g.op('Mul', [x, cx.g.op('Sigmoid', [x])]));
}

const hardSigmoid = { alpha: float(1 / 6), beta: float(0.5) };

export const MATH_OPS: Record<string, Converter> = {
  'aten::add': arith('Add'),
  'aten::add_': arith('Add'),
  'aten::sub': arith('Sub'),
  'aten::sub_': arith('Sub'),
  'aten::rsub': arith('Sub', true),
  'aten::mul': arith('Mul'),
  'aten::mul_': arith('Mul'),
  'aten::div': arith('Div'),
  'aten::div_': arith('Div'),
  'aten::maximum': arith('Max'),
  'aten::minimum': arith('Min'),
  'aten::pow': pow,
  'aten::eq': compare('Equal'),
  'aten::ne': compare('Equal', true),
  'aten::lt': compare('Less'),
  'aten::le': compare('LessOrEqual'),
  'aten::gt': compare('Greater'),
  'aten::ge': compare('GreaterOrEqual'),
  'aten::logical_and': logical('And'),
  'aten::logical_or': logical('Or'),
  'aten::logical_xor': logical('Xor'),
  'aten::logical_not': (cx) => cx.set(cx.g.op('Not', [cx.inAs(0, 'bool')])),
  'aten::bitwise_not': (cx) => (cx.dtype(0) === 'bool' ? cx.set(cx.g.op('Not', [cx.in(0)])) : cx.fail('on integers')),
  'aten::where': where,
  'aten::masked_fill': maskedFill,
  'aten::masked_fill_': maskedFill,
  'aten::neg': unary('Neg'),
  'aten::exp': unary('Exp'),
  'aten::log': unary('Log'),
  'aten::sqrt': unary('Sqrt'),
  'aten::rsqrt': unary('Sqrt', 'Reciprocal'),
  'aten::abs': unary('Abs'),
  'aten::sign': unary('Sign'),
  'aten::sin': unary('Sin'),
  'aten::cos': unary('Cos'),
  'aten::tanh': unary('Tanh'),
  'aten::tanh_': unary('Tanh'),
  'aten::sigmoid': unary('Sigmoid'),
  'aten::sigmoid_': unary('Sigmoid'),
  'aten::reciprocal': unary('Reciprocal'),
  'aten::floor': unary('Floor'),
  'aten::ceil': unary('Ceil'),
  'aten::round': unary('Round'),
  'aten::erf': unary('Erf'),
  'aten::isnan': unary('IsNaN'),
  'aten::relu': unary('Relu'),
  'aten::relu_': unary('Relu'),
  'aten::hardtanh': (cx) => clip(cx, cx.arg(1, -1), cx.arg(2, 1)),
  'aten::hardtanh_': (cx) => clip(cx, cx.arg(1, -1), cx.arg(2, 1)),
  'aten::relu6': (cx) => clip(cx, 0, 6),
  'aten::clamp': (cx) => clip(cx, cx.arg(1), cx.arg(2)),
  'aten::clamp_': (cx) => clip(cx, cx.arg(1), cx.arg(2)),
  'aten::clamp_min': (cx) => clip(cx, cx.arg(1), undefined),
  'aten::clamp_max': (cx) => clip(cx, undefined, cx.arg(1)),
  'aten::gelu': gelu,
  'aten::silu': silu,
  'aten::silu_': silu,
  'aten::hardsigmoid': (cx) => cx.set(cx.g.op('HardSigmoid', [cx.in(0)], hardSigmoid)),
  'aten::hardswish': (cx) => cx.set(cx.g.op('Mul', [cx.in(0), cx.g.op('HardSigmoid', [cx.in(0)], hardSigmoid)])),
  'aten::hardswish_': (cx) => cx.set(cx.g.op('Mul', [cx.in(0), cx.g.op('HardSigmoid', [cx.in(0)], hardSigmoid)])),
  'aten::leaky_relu': (cx) => cx.set(cx.g.op('LeakyRelu', [cx.in(0)], { alpha: float(cx.arg(1, 0.01)) })),
  'aten::elu': (cx) => {
    if (cx.arg(2, 1) !== 1 || cx.arg(3, 1) !== 1) cx.fail('scale / input_scale other than 1');
    cx.set(cx.g.op('Elu', [cx.in(0)], { alpha: float(cx.arg(1, 1)) }));
  },
  'aten::softmax': softmax('Softmax'),
  'aten::_softmax': softmax('Softmax'),
  'aten::log_softmax': softmax('LogSoftmax'),
  'aten::_log_softmax': softmax('LogSoftmax'),
  'aten::dropout': dropout,
  'aten::feature_dropout': dropout,
  'aten::alpha_dropout': dropout,
  'aten::contiguous': identity,
  'aten::clone': identity,
  'aten::detach': identity,
  'aten::alias': identity,
  'aten::lift_fresh': identity,
  'aten::to': castToOut,
  'aten::_to_copy': castToOut,
  'aten::type_as': castToOut,
};
