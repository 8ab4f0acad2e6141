// Tensor: a JS object over one native handle. Methods are one-liners over the op modules.
import { ArgumentError, DisposedError } from '../errors.ts';
import { defFast, guard, type Handle, native, track, untrack } from './_core.ts';
import * as A from './autograd.ts';
import { type DType, dtypeFromCode, isFloating } from './dtype.ts';
import { fast } from './fast_native.ts';
import * as Fn from './functional.ts';
import * as M from './math.ts';
import * as R from './reduce.ts';
import * as S from './shape.ts';
import * as G from './tensor_grad.ts';

const reluInplace = defFast('aten::relu_', '', fast.fastRelu_);

export type Scalar = number | boolean;
export type TensorLike = Tensor | number;
export type Dims = number | number[];

export class Tensor {
  #h: Handle | undefined;
  #shape: number[] | undefined;
  #dtype: DType | undefined;

  constructor(h: Handle) {
    this.#h = h;
    // GC frees it unless a tidy() scope will; a stale id (disposed, slot reused) is ignored natively
    track(this, h);
  }

  /** The native handle; throws once disposed. */
  get h(): Handle {
    if (this.#h === undefined) throw new DisposedError();
    return this.#h;
  }

  get shape(): number[] {
    this.#shape ??= native.shape(this.h);
    return this.#shape.slice();
  }
  get ndim(): number {
    this.#shape ??= native.shape(this.h);
    return this.#shape.length;
  }
  size(dim: number): number {
    this.#shape ??= native.shape(this.h);
    const d = dim < 0 ? dim + this.#shape.length : dim;
    if (d < 0 || d >= this.#shape.length)
      throw new ArgumentError(`size(${dim}): tensor has ${this.#shape.length} dims`);
    return this.#shape[d]!;
  }
  numel(): number {
    this.#shape ??= native.shape(this.h);
    return this.#shape.reduce((a, b) => a * b, 1);
  }
  get dtype(): DType {
    this.#dtype ??= dtypeFromCode(native.dtype(this.h));
    return this.#dtype;
  }
  get device(): string {
    return native.device(this.h);
  }
  get isFloatingPoint(): boolean {
    return isFloating(this.dtype);
  }
  strides(): number[] {
    return native.strides(this.h);
  }

  // ---- lifetime ----
  /** Releases this handle's reference now (other tensors sharing the storage are unaffected). */
  dispose(): void {
    if (this.#h === undefined) return;
    native.dispose(this.#h);
    this.#h = undefined;
  }
  releaseHandle(): Handle | undefined {
    const h = this.#h;
    this.#h = undefined;
    return h;
  }
  get isDisposed(): boolean {
    return this.#h === undefined;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  /** PyTorch's `t.data = src`: dtype, device or shape may change, the tensor's identity stays. */
  setData_(src: Tensor): this {
    G.setData(this, src);
    this.#shape = undefined;
    this.#dtype = undefined;
    return this;
  }
  /** True when both handles refer to the same tensor (same TensorImpl). */
  isSameAs(other: Tensor): boolean {
    return native.sameTensor(this.h, other.h);
  }
  /** Excludes this tensor from the enclosing tidy() scopes. */
  keep(): this {
    untrack(this);
    return this;
  }

  // ---- data out ----
  item(): number {
    return Number(guard(() => native.item(this.h)));
  }
  /** A typed array copy of the data (float16/bfloat16 are widened to float32). */
  data(): M.TypedArray {
    return M.toTypedArray(this);
  }
  /** The raw bytes (contiguous, little-endian, on the CPU), any dtype. */
  bytes(): Uint8Array {
    return new Uint8Array(native.toBuffer(this.h));
  }
  /** Flat array of numbers. */
  toArray(): number[] {
    return Array.from(this.data() as ArrayLike<number | bigint>, Number);
  }
  /** Nested arrays like PyTorch's tolist(). */
  tolist(): unknown {
    return M.tolist(this);
  }
  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ---- autograd ----
  get requiresGrad(): boolean {
    return native.requiresGrad(this.h);
  }
  set requiresGrad(v: boolean) {
    A.setRequiresGrad(this, v);
  }
  requiresGrad_(v = true): this {
    A.setRequiresGrad(this, v);
    return this;
  }
  get grad(): Tensor | undefined {
    return G.gradOf(this);
  }
  set grad(g: Tensor | undefined) {
    G.assignGrad(this, g);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.h);
  }
  get gradFn(): string | undefined {
    return native.gradFnName(this.h);
  }
  retainGrad(): this {
    guard(() => native.retainGrad(this.h));
    return this;
  }
  backward(grad?: Tensor, opts?: { retainGraph?: boolean; createGraph?: boolean }): void {
    G.backwardOne(this, grad, opts);
  }
  detach(): Tensor {
    return S.detach(this);
  }
  /** Drops the gradient (set to None, as PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    native.setGrad(this.h, undefined);
  }

  // ---- conversion ----
  to(target: DType | string | { dtype?: DType; device?: string }): Tensor {
    return M.to(this, target);
  }
  float(): Tensor {
    return M.to(this, 'float32');
  }
  double(): Tensor {
    return M.to(this, 'float64');
  }
  long(): Tensor {
    return M.to(this, 'int64');
  }
  cpu(): Tensor {
    return M.to(this, { device: 'cpu' });
  }
  cuda(index = 0): Tensor {
    return M.to(this, { device: `cuda:${index}` });
  }

  // ---- elementwise ----
  add(o: TensorLike, alpha?: number): Tensor {
    return M.add(this, o, alpha);
  }
  sub(o: TensorLike, alpha?: number): Tensor {
    return M.sub(this, o, alpha);
  }
  mul(o: TensorLike): Tensor {
    return M.mul(this, o);
  }
  div(o: TensorLike): Tensor {
    return M.div(this, o);
  }
  pow(e: TensorLike): Tensor {
    return M.pow(this, e);
  }
  neg(): Tensor {
    return M.unary('neg', this);
  }
  exp(): Tensor {
    return M.unary('exp', this);
  }
  log(): Tensor {
    return M.unary('log', this);
  }
  sqrt(): Tensor {
    return M.unary('sqrt', this);
  }
  rsqrt(): Tensor {
    return M.unary('rsqrt', this);
  }
  abs(): Tensor {
    return M.unary('abs', this);
  }
  sign(): Tensor {
    return M.unary('sign', this);
  }
  clamp(min?: number, max?: number): Tensor {
    return M.clamp(this, min, max);
  }
  maximum(o: Tensor): Tensor {
    return M.maximum(this, o);
  }
  minimum(o: Tensor): Tensor {
    return M.minimum(this, o);
  }
  eq(o: TensorLike): Tensor {
    return M.compare('eq', this, o);
  }
  ne(o: TensorLike): Tensor {
    return M.compare('ne', this, o);
  }
  lt(o: TensorLike): Tensor {
    return M.compare('lt', this, o);
  }
  le(o: TensorLike): Tensor {
    return M.compare('le', this, o);
  }
  gt(o: TensorLike): Tensor {
    return M.compare('gt', this, o);
  }
  ge(o: TensorLike): Tensor {
    return M.compare('ge', this, o);
  }
  matmul(o: Tensor): Tensor {
    return M.matmul(this, o);
  }
  relu(): Tensor {
    return Fn.relu(this);
  }
  sigmoid(): Tensor {
    return Fn.sigmoid(this);
  }
  tanh(): Tensor {
    return Fn.tanh(this);
  }
  softmax(dim: number): Tensor {
    return Fn.softmax(this, dim);
  }
  logSoftmax(dim: number): Tensor {
    return Fn.logSoftmax(this, dim);
  }

  // ---- in place (return this) ----
  add_(o: TensorLike, alpha?: number): this {
    return M.inplace('add_', this, o, alpha);
  }
  sub_(o: TensorLike, alpha?: number): this {
    return M.inplace('sub_', this, o, alpha);
  }
  mul_(o: TensorLike): this {
    return M.inplace('mul_', this, o);
  }
  div_(o: TensorLike): this {
    return M.inplace('div_', this, o);
  }
  copy_(src: Tensor): this {
    return M.copy_(this, src);
  }
  fill_(v: number): this {
    return M.fill_(this, v);
  }
  zero_(): this {
    return M.zero_(this);
  }
  clamp_(min?: number, max?: number): this {
    return M.clamp_(this, min, max);
  }
  relu_(): this {
    reluInplace(this.h);
    return this;
  }

  // ---- shape ----
  reshape(...shape: number[] | [number[]]): Tensor {
    return S.reshape(this, S.shapeArgs(shape));
  }
  view(...shape: number[] | [number[]]): Tensor {
    return S.view(this, S.shapeArgs(shape));
  }
  permute(...dims: number[] | [number[]]): Tensor {
    return S.permute(this, S.shapeArgs(dims));
  }
  transpose(d0: number, d1: number): Tensor {
    return S.transpose(this, d0, d1);
  }
  get T(): Tensor {
    return S.transpose(this, -2, -1);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return S.narrow(this, dim, start, length);
  }
  slice(dim: number, start?: number, end?: number, step = 1): Tensor {
    return S.slice(this, dim, start, end, step);
  }
  select(dim: number, index: number): Tensor {
    return S.select(this, dim, index);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return S.indexSelect(this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return S.gather(this, dim, index);
  }
  scatter(dim: number, index: Tensor, src: TensorLike): Tensor {
    return S.scatter(this, dim, index, src);
  }
  maskedFill(mask: Tensor, value: TensorLike): Tensor {
    return S.maskedFill(this, mask, value);
  }
  squeeze(dim?: number): Tensor {
    return S.squeeze(this, dim);
  }
  unsqueeze(dim: number): Tensor {
    return S.unsqueeze(this, dim);
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return S.expand(this, S.shapeArgs(shape));
  }
  flatten(start = 0, end = -1): Tensor {
    return S.flatten(this, start, end);
  }
  contiguous(): Tensor {
    return S.contiguous(this);
  }
  clone(): Tensor {
    return S.clone(this);
  }
  split(size: number | number[], dim = 0): Tensor[] {
    return S.split(this, size, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return S.chunk(this, chunks, dim);
  }

  // ---- reductions ----
  sum(dim?: Dims, keepdim = false): Tensor {
    return R.sum(this, dim, keepdim);
  }
  mean(dim?: Dims, keepdim = false): Tensor {
    return R.mean(this, dim, keepdim);
  }
  var(dim?: Dims, opts?: R.VarOptions): Tensor {
    return R.variance(this, dim, opts);
  }
  std(dim?: Dims, opts?: R.VarOptions): Tensor {
    return R.std(this, dim, opts);
  }
  max(): Tensor {
    return R.max(this);
  }
  min(): Tensor {
    return R.min(this);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return R.argmax(this, dim, keepdim);
  }
  logsumexp(dim: Dims, keepdim = false): Tensor {
    return R.logsumexp(this, dim, keepdim);
  }
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return R.norm(this, p, dim, keepdim);
  }
}

/** Wraps a native result: handles become Tensors, arrays are mapped, `{ value }` numbers unboxed. */
export function wrap(r: unknown): any {
  if (typeof r === 'number') return new Tensor(r as Handle);
  if (Array.isArray(r)) return r.map(wrap);
  if (r !== null && typeof r === 'object' && 'value' in r) return (r as { value: unknown }).value;
  return r;
}
