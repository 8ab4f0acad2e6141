// graft's dynamic int8 Linear (quant.DynamicQuantizedLinear) in ONNX: the input quantized per
// tensor at run time (DynamicQuantizeLinear, uint8), an integer matmul with the stored int8 weight
// and its zero point (MatMulInteger), then rescaled by input scale x weight scale, plus the float
// bias. The int8 weight and its qparams keep their state-dict names. PyTorch's fbgemm kernel
// quantizes activations to 7 bits (reduce_range), onnxruntime to 8, so the two agree to the
// quantization step, not bit for bit.
import { type Converter, type Cx, onnxDtype } from './onnx_context.ts';
import { int, ints } from './onnx_graph.ts';

function dynamicQuantizedLinear(cx: Cx): void {
  const g = cx.g;
  const to = (d: 'float32' | 'int8') => ({ to: int(onnxDtype(d)) });
  const [q, xScale, xZeroPoint] = g.node('DynamicQuantizeLinear', [cx.inAs(0, 'float32')], {}, 3) as [
    string,
    string,
    string,
  ];
  const weightT = g.op('Transpose', [cx.in(1)], { perm: ints([1, 0]) });
  const wZeroPoint = g.op('Cast', [cx.in(3)], to('int8'));
  const acc = g.op('MatMulInteger', [q, weightT, xZeroPoint, wZeroPoint]);
  const scale = g.op('Mul', [xScale, g.op('Cast', [cx.in(2)], to('float32'))]);
  let y = g.op('Mul', [g.op('Cast', [acc], to('float32')), scale]);
  if (cx.has(4)) y = g.op('Add', [y, cx.inAs(4, 'float32')]);
  cx.set(cx.cast(y, 'float32', cx.out().dtype));
}

export const QUANT_OPS: Record<string, Converter> = {
  'graft::dynamic_quantized_linear': dynamicQuantizedLinear,
};
