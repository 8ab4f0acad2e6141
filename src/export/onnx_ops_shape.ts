// ATen -> ONNX: views and shape ops (reshape, permute, slicing, joining, splitting, expanding) and
// the ops that make tensors from shapes. Reshape targets come from the traced result's shape, so
// sizes a forward computed from x.shape follow the batch size.
import { type Converter, type Cx, onnxDtype } from './onnx_context.ts';
import { encodeScalars, int } from './onnx_graph.ts';
import { addSym, type Sym, sameSym } from './symbolic.ts';

const reshape: Converter = (cx) => cx.set(cx.g.op('Reshape', [cx.in(0), cx.g.reshapeTarget(cx.outSym())]));

function flatten(cx: Cx): void {
  const r = cx.rank(0);
  const start = cx.axis(cx.arg<number>(1, 0), r);
  const end = cx.axis(cx.arg<number>(2, -1), r);
  if (r > 0 && end === r - 1 && start >= 1 && cx.out().shape.length === 2 && start === 1)
    cx.set(cx.g.op('Flatten', [cx.in(0)], { axis: int(1) }));
  else reshape(cx);
}

function transposeOf(cx: Cx, perm: number[]): void {
  cx.set(cx.g.op('Transpose', [cx.in(0)], { perm: { t: 'ints', v: perm } }));
}

function permute(cx: Cx): void {
  const r = cx.rank(0);
  transposeOf(
    cx,
    cx.arg<number[]>(1).map((d) => cx.axis(d, r)),
  );
}

function transpose(cx: Cx): void {
  const r = cx.rank(0);
  const perm = Array.from({ length: r }, (_, i) => i);
  const a = cx.axis(cx.arg<number>(1), r);
  const b = cx.axis(cx.arg<number>(2), r);
  [perm[a], perm[b]] = [perm[b]!, perm[a]!];
  transposeOf(cx, perm);
}

function unsqueeze(cx: Cx): void {
  const axis = cx.axis(cx.arg<number>(1), cx.rank(0) + 1);
  cx.set(cx.g.op('Unsqueeze', [cx.in(0), cx.g.i64([axis])]));
}

function squeeze(cx: Cx): void {
  const s = cx.sym(0);
  const dims = cx.node.args.length > 1 ? [cx.axis(cx.arg<number>(1), s.length)] : s.map((_, i) => i);
  const axes = dims.filter((d) => s[d] === 1);
  cx.set(axes.length ? cx.g.op('Squeeze', [cx.in(0), cx.g.i64(axes)]) : cx.in(0));
}

/** A Slice bound: a number (negative counts from the end, as both PyTorch and ONNX read it) or a size expression. */
function bound(cx: Cx, v: Sym | null | undefined, dflt: number | bigint): string {
  if (v === null || v === undefined) return cx.g.i64([dflt]);
  return typeof v === 'number' ? cx.g.i64([v]) : cx.g.expr(v);
}

function slice(cx: Cx): void {
  const g = cx.g;
  const axis = cx.axis(cx.arg<number>(1, 0), cx.rank(0));
  const start = bound(cx, cx.symArg<Sym | null>(2, 0), 0);
  const end = bound(cx, cx.symArg<Sym | null>(3, null), g.int64Max);
  cx.set(g.op('Slice', [cx.in(0), start, end, g.i64([axis]), g.i64([cx.arg<number>(4, 1)])]));
}

function narrow(cx: Cx): void {
  const g = cx.g;
  const axis = cx.axis(cx.arg<number>(1), cx.rank(0));
  let start = cx.symArg<Sym>(2);
  if (typeof start === 'number' && start < 0) start += cx.value(0).shape[axis]!;
  const end = addSym(start, cx.symArg<Sym>(3));
  cx.set(g.op('Slice', [cx.in(0), bound(cx, start, 0), bound(cx, end, 0), g.i64([axis])]));
}

function select(cx: Cx): void {
  const axis = cx.axis(cx.arg<number>(1), cx.rank(0));
  cx.set(cx.g.op('Gather', [cx.in(0), cx.g.scalarExpr(cx.symArg<Sym>(2))], { axis: int(axis) }));
}

/** arange(end) / arange(start, end) / arange(start, end, step): Range on scalars of the result dtype. */
function arange(cx: Cx): void {
  const ov = cx.node.overload;
  const [start, end, step]: Sym[] =
    ov === ''
      ? [0, cx.symArg<Sym>(0), 1]
      : ov === 'start'
        ? [cx.symArg<Sym>(0), cx.symArg<Sym>(1), 1]
        : [0, 1, 2].map((i) => cx.symArg<Sym>(i));
  const dt = cx.out().dtype;
  const g = cx.g;
  cx.set(g.op('Range', [g.scalarExpr(start!, dt), g.scalarExpr(end!, dt), g.scalarExpr(step!, dt)]));
}

/** split / chunk / unbind: one Split with the traced outputs' sizes along the axis. */
function split(squeezeOut: boolean): Converter {
  return (cx) => {
    const dimArg = cx.node.op === 'aten::unbind' ? 1 : 2;
    const axis = cx.axis(cx.arg<number>(dimArg, 0), cx.rank(0));
    if (typeof cx.sym(0)[axis] !== 'number') cx.fail('splitting the batch dimension');
    const sizes = cx.node.outputs.map((_, k) => cx.out(k).shape[axis]!);
    const n = sizes.length;
    const outs = cx.g.node('Split', [cx.in(0), cx.g.i64(sizes)], { axis: int(axis) }, n);
    for (const [k, o] of outs.entries()) cx.set(squeezeOut ? cx.g.op('Squeeze', [o, cx.g.i64([axis])]) : o, k);
  };
}

function cat(cx: Cx): void {
  const dt = cx.out().dtype;
  const vals = cx.listValues(0);
  const names = cx.list(0).filter((_, i) => vals[i]!.shape.length > 1 || vals[i]!.shape[0] !== 0);
  const casted = names.map((n, i) => cx.cast(n, vals[i]!.dtype, dt));
  const axis = cx.axis(cx.arg<number>(1, 0), cx.out().shape.length);
  cx.set(casted.length === 1 ? casted[0]! : cx.g.op('Concat', casted, { axis: int(axis) }));
}

function stack(cx: Cx): void {
  const dt = cx.out().dtype;
  const vals = cx.listValues(0);
  const axis = cx.axis(cx.arg<number>(1, 0), cx.out().shape.length);
  const parts = cx.list(0).map((n, i) => cx.g.op('Unsqueeze', [cx.cast(n, vals[i]!.dtype, dt), cx.g.i64([axis])]));
  cx.set(parts.length === 1 ? parts[0]! : cx.g.op('Concat', parts, { axis: int(axis) }));
}

/** Expand to the traced result's shape; a batch-dependent dim the input already has broadcasts as 1. */
function expand(cx: Cx): void {
  const out = cx.outSym();
  const inp = cx.sym(0);
  const lead = out.length - inp.length;
  const target = out.map((d, i): Sym => (typeof d !== 'number' && sameSym(inp[i - lead], d) ? 1 : d));
  cx.set(cx.g.op('Expand', [cx.in(0), cx.g.shapeExpr(target)]));
}

function repeat(cx: Cx): void {
  const reps = cx.arg<number[]>(1);
  let x = cx.in(0);
  const extra = reps.length - cx.rank(0);
  if (extra > 0) x = cx.g.op('Unsqueeze', [x, cx.g.i64(Array.from({ length: extra }, (_, i) => i))]);
  cx.set(cx.g.op('Tile', [x, cx.g.i64(reps)]));
}

/** A tensor filled with one value, of the traced result's shape (batch-dependent dims computed). */
function filled(value: (cx: Cx) => number, like: boolean): Converter {
  return (cx) => {
    const dt = cx.out().dtype;
    const shape = like ? cx.g.op('Shape', [cx.in(0)]) : cx.g.shapeExpr(cx.outSym());
    const t = { name: 'value', dims: [1], dataType: onnxDtype(dt), rawData: encodeOne(value(cx), dt) };
    cx.set(cx.g.op('ConstantOfShape', [shape], { value: { t: 'tensor', v: t } }));
  };
}

const encodeOne = (v: number, dt: Parameters<typeof encodeScalars>[1]): Uint8Array => encodeScalars([v], dt);

function trilu(upper: boolean): Converter {
  return (cx) => {
    if (cx.g.opset < 14) cx.fail('needs opset 14 (Trilu)');
    const k = cx.g.scalarExpr(cx.symArg<Sym>(1, 0));
    cx.set(cx.g.op('Trilu', [cx.in(0), k], { upper: int(upper ? 1 : 0) }));
  };
}

export const SHAPE_OPS: Record<string, Converter> = {
  'aten::view': reshape,
  'aten::reshape': reshape,
  'aten::_unsafe_view': reshape,
  'aten::view_as': reshape,
  'aten::reshape_as': reshape,
  'aten::unflatten': reshape,
  'aten::flatten': flatten,
  'aten::permute': permute,
  'aten::transpose': transpose,
  'aten::t': (cx) => (cx.rank(0) < 2 ? cx.set(cx.in(0)) : transposeOf(cx, [1, 0])),
  'aten::unsqueeze': unsqueeze,
  'aten::squeeze': squeeze,
  'aten::slice': slice,
  'aten::narrow': narrow,
  'aten::select': select,
  'aten::split': split(false),
  'aten::split_with_sizes': split(false),
  'aten::unsafe_split': split(false),
  'aten::chunk': split(false),
  'aten::unbind': split(true),
  'aten::cat': cat,
  'aten::concat': cat,
  'aten::stack': stack,
  'aten::expand': expand,
  'aten::expand_as': (cx) => cx.set(cx.g.op('Expand', [cx.in(0), cx.g.op('Shape', [cx.in(1)])])),
  'aten::repeat': repeat,
  'aten::tril': trilu(false),
  'aten::triu': trilu(true),
  'aten::ones_like': filled(() => 1, true),
  'aten::zeros_like': filled(() => 0, true),
  'aten::full_like': filled((cx) => cx.arg<number>(1), true),
  'aten::arange': arange,
  'aten::ones': filled(() => 1, false),
  'aten::zeros': filled(() => 0, false),
  'aten::full': filled((cx) => cx.arg<number>(1), false),
};
