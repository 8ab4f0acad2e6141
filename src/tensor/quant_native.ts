// The quantized kernels of this libtorch (fbgemm / qnnpack / onednn) through native/quant.cc:
// prepacked weights are held natively and named by a number, freed when their JS owner is. Here
// because only src/tensor/ reaches the binding; src/quant/ builds the quantized modules on it.
import { type Handle, native } from '../binding/index.ts';
import { QuantError } from '../errors.ts';
import { Tensor } from './tensor.ts';

interface QuantNative {
  quantFind(name: string, overload: string): number;
  quantCall(id: number, ...args: unknown[]): any;
  quantFree(pack: number): void;
  quantLive(): number;
  quantEngines(): string[];
  quantSetEngine(name: string): void;
}

const q = native as unknown as QuantNative;

function mapError(e: unknown, what: string): Error {
  if (e instanceof Error && 'code' in e) return new QuantError(`${what}: ${e.message}`);
  return e as Error;
}

/** The quantized engine in use and the ones this libtorch has ('fbgemm', 'qnnpack', 'onednn'). */
export function engines(): { current: string; supported: string[] } {
  const [current, ...supported] = q.quantEngines();
  return { current: current!, supported: supported.filter((e) => e !== 'none') };
}

/** Picks the quantized engine (torch.backends.quantized.engine = name). */
export function setEngine(name: string): void {
  const { supported } = engines();
  if (!supported.includes(name))
    throw new QuantError(`quantized engine '${name}' is not in this libtorch`, `available: ${supported.join(', ')}`);
  q.quantSetEngine(name);
}

/** Prepacked weights (LinearPackedParamsBase / Conv2dPackedParamsBase) held by the addon. */
export class Packed {
  readonly #id: number;
  #freed = false;
  constructor(id: number) {
    this.#id = id;
    registry.register(this, id, this);
  }
  get id(): number {
    if (this.#freed) throw new QuantError('this packed quantized weight was freed');
    return this.#id;
  }
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    registry.unregister(this);
    q.quantFree(this.#id);
  }
}
const registry = new FinalizationRegistry<number>((id) => q.quantFree(id));

/** How many packed weights are alive (tests check that free/GC release them). */
export const livePacked = (): number => q.quantLive();

const ids = new Map<string, number>();

function lower(v: unknown): unknown {
  if (v instanceof Packed) return v.id;
  if (v instanceof Tensor) return v.h;
  return v;
}

/** Calls a quantized:: op whose arguments may include packed weights; results are Tensors or Packed. */
export function qcall(name: string, overload: string, ...args: unknown[]): any {
  const key = `${name}.${overload}`;
  let id = ids.get(key);
  try {
    if (id === undefined) {
      id = q.quantFind(name, overload);
      ids.set(key, id);
    }
    return wrapResult(q.quantCall(id, ...args.map(lower)));
  } catch (e) {
    throw mapError(e, name);
  }
}

function wrapResult(r: unknown): any {
  if (Array.isArray(r)) return r.map(wrapResult);
  if (r !== null && typeof r === 'object' && 'pack' in r) return new Packed((r as { pack: number }).pack);
  if (typeof r === 'number') return new Tensor(r as Handle);
  return r;
}
